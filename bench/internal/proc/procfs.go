package proc

// What /proc says about a process.

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ClockTicks is USER_HZ, the unit of [CPUTicks] (getconf CLK_TCK; 100 on
// every Linux the benchmarks run on).
const ClockTicks = 100

// CPUTicks returns utime+stime of process pid, all its threads, in clock
// ticks (fields 14 and 15 of /proc/PID/stat).
func CPUTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields are counted after it.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc/PID/stat")
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3
	if len(f) < 13 {
		return 0, errors.New("short /proc/PID/stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return utime + stime, nil
}

// Mem is what /proc/PID/status says of a process's memory, in KiB. RSS is
// anonymous memory (the Go heap, stacks, runtime) plus file pages mapped and
// touched (the binary's text and data, the bbolt file, which bbolt reads
// through mmap) plus shared memory.
type Mem struct {
	RSS  int64 // VmRSS
	HWM  int64 // VmHWM, the peak of RSS
	Anon int64 // RssAnon
	File int64 // RssFile
}

// ReadMem reads VmRSS, VmHWM, RssAnon and RssFile of process pid. A field
// the kernel does not report is 0.
func ReadMem(pid int) (Mem, error) {
	var m Mem
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m, err
	}
	for line := range strings.Lines(string(b)) {
		name, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch name {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.HWM
		case "RssAnon":
			dst = &m.Anon
		case "RssFile":
			dst = &m.File
		default:
			continue
		}
		*dst, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
	}
	return m, nil
}

// CPUTime returns the time process pid's live threads have spent on a CPU,
// to the nanosecond (the first field of each /proc/PID/task/TID/schedstat).
// Unlike [CPUTicks] it resolves a cold start's few milliseconds, and unlike
// a wall-clock time it does not count the time the process waited for a CPU
// that other processes held.
func CPUTime(pid int) (time.Duration, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread exited
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, errors.New("empty schedstat")
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, err
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}
