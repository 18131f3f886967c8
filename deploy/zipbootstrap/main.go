// Command zipbootstrap packs a Lambda binary as the only file of a zip,
// named bootstrap and executable, the layout the provided.al2023 runtime
// runs. The zip is reproducible: a fixed timestamp, so the same binary makes
// the same zip and tools that compare hashes (SAM, Terraform) redeploy only
// on change. It reports the binary's and the zip's sizes.
//
//	go run ./deploy/zipbootstrap -o tollgate-lambda-arm64.zip path/to/bootstrap
package main

import (
	"archive/zip"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	out := flag.String("o", "", "the zip to write")
	flag.Parse()
	if *out == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: zipbootstrap -o OUT.zip BINARY")
		os.Exit(2)
	}
	if err := pack(*out, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "zipbootstrap:", err)
		os.Exit(1)
	}
}

// epoch is the modification time of every zip entry (the earliest a zip
// can hold), for reproducible output.
var epoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

func pack(out, binary string) (err error) {
	in, err := os.Open(binary)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	zw := zip.NewWriter(f)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate, Modified: epoch}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, in); err != nil {
		return err
	}
	if err := errors.Join(zw.Close(), f.Close()); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	zst, err := os.Stat(out)
	if err != nil {
		return err
	}
	fmt.Printf("%s: bootstrap %.1f MiB (%d bytes), zip %.1f MiB (%d bytes)\n",
		out, mib(st.Size()), st.Size(), mib(zst.Size()), zst.Size())
	return nil
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
