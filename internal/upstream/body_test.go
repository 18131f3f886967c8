package upstream

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// countingConn counts the writes made on a connection.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// opaque hides every method of a reader but Read, as smithy's request body
// hides its bytes.Reader.
type opaque struct{ io.Reader }

// TestBodyOneWrite: an ordinary request is written in one write, headers
// and body together (net/http flushes the headers on their own before a
// body it does not know to be in memory), and a body over inMemoryBody
// arrives whole through the fallback.
func TestBodyOneWrite(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type seen struct {
		body []byte
		err  error
	}
	got := make(chan seen, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64<<10)
				n, err := c.Read(buf)
				if err != nil {
					got <- seen{err: err}
					return
				}
				var s seen
				r := bufio.NewReader(io.MultiReader(bytes.NewReader(buf[:n]), c))
				req, err := http.ReadRequest(r)
				if err == nil {
					s.body, err = io.ReadAll(req.Body)
				}
				s.err = err
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
				got <- s
			}()
		}
	}()

	var writes atomic.Int64
	dial := (&net.Dialer{}).DialContext
	client := bodyWithoutWriterTo{&http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return countingConn{c, &writes}, nil
		},
	}}}
	for _, size := range []int{300, inMemoryBody + 1} {
		body := strings.Repeat("x", size-1) + "!"
		req, err := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/model/m/converse", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Body = io.NopCloser(opaque{strings.NewReader(body)})
		req.ContentLength = int64(size)
		writes.Store(0)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		resp.Body.Close()
		s := <-got
		if s.err != nil {
			t.Fatalf("size %d: server: %v", size, s.err)
		}
		if string(s.body) != body {
			t.Errorf("size %d: the server read %d bytes of body, want %d", size, len(s.body), size)
		}
		if n := writes.Load(); size <= inMemoryBody && n != 1 {
			t.Errorf("size %d: the request took %d writes, want 1 (headers and body together)", size, n)
		}
	}
}
