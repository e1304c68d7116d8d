package httpapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadBody(t *testing.T) {
	body := strings.Repeat("0123456789", 1000)
	for _, size := range []int64{-1, 0, 1, 9999, 10000, 10001, 50000, 1 << 30} {
		for _, half := range []bool{false, true} {
			var r io.Reader = strings.NewReader(body)
			if half {
				r = iotest.HalfReader(r)
			}
			got, err := readBody(r, size, 1<<20)
			if err != nil || string(got) != body {
				t.Errorf("readBody(size %d, half reads %v) = %d bytes, %v; want %d bytes", size, half, len(got), err, len(body))
			}
		}
	}
	// The limit still holds when the announced size is below it.
	w := httptest.NewRecorder()
	_, err := readBody(http.MaxBytesReader(w, io.NopCloser(iotest.OneByteReader(bytes.NewReader([]byte(body)))), 100), 50, 100)
	var mbe *http.MaxBytesError
	if !errors.As(err, &mbe) {
		t.Errorf("readBody past the limit: %v; want *http.MaxBytesError", err)
	}
	if _, err := readBody(iotest.ErrReader(errors.New("boom")), 10, 100); err == nil || err.Error() != "boom" {
		t.Errorf("readBody of a failing reader: %v; want boom", err)
	}
}
