package web_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
)

// get asks for path with the given Accept-Encoding and If-None-Match, with
// no transparent decompression.
func get(t *testing.T, c *http.Client, url, encoding, etag string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if encoding != "" {
		req.Header.Set("Accept-Encoding", encoding)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCompressionAndCaching: pages and static files are gzipped when the
// client takes it; static files have versioned URLs cached for a year,
// plain URLs a short while, and ETags.
func TestCompressionAndCaching(t *testing.T) {
	b := &fakeBackend{}
	for i := range 40 {
		b.events = append(b.events, hostile(strings.Repeat("e", i+1)))
	}
	srv := newConsole(t, b)
	c := client(t, srv, goodKey)
	c.Transport = &http.Transport{DisableCompression: true}

	res, page := get(t, c, srv.URL+"/", "gzip, deflate, br", "")
	if res.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(res.Header.Get("Vary"), "Accept-Encoding") {
		t.Fatalf("GET / with gzip: Content-Encoding %q, Vary %q; want gzip, Accept-Encoding", res.Header.Get("Content-Encoding"), res.Header.Get("Vary"))
	}
	html := string(gunzip(t, page))
	if len(page) >= len(html) || !strings.Contains(html, "</html>") {
		t.Errorf("GET /: %d compressed bytes for %d; want a smaller whole page", len(page), len(html))
	}
	for _, enc := range []string{"", "identity", "gzip;q=0, deflate", "br"} {
		res, body := get(t, c, srv.URL+"/", enc, "")
		if res.Header.Get("Content-Encoding") != "" || !strings.Contains(string(body), "</html>") {
			t.Errorf("GET / with Accept-Encoding %q: Content-Encoding %q; want none", enc, res.Header.Get("Content-Encoding"))
		}
	}

	for _, name := range []string{"console.css", "console.js", "favicon.svg"} {
		want, err := os.ReadFile("static/" + name)
		if err != nil {
			t.Fatal(err)
		}
		stem, ext, _ := strings.Cut(name, ".")
		m := regexp.MustCompile(`"(/static/` + stem + `\.[0-9a-f]{10}\.` + ext + `)"`).FindStringSubmatch(html)
		if m == nil {
			t.Errorf("the page does not link %s by a versioned URL", name)
			continue
		}
		res, body := get(t, c, srv.URL+m[1], "gzip", "")
		etag := res.Header.Get("ETag")
		if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || etag == "" {
			t.Errorf("GET %s = %d, Cache-Control %q, ETag %q; want 200, a year immutable, an ETag", m[1], res.StatusCode, res.Header.Get("Cache-Control"), etag)
		}
		if res.Header.Get("Content-Encoding") == "gzip" {
			body = gunzip(t, body)
		} else if len(want) >= 1024 {
			t.Errorf("GET %s (%d bytes) with gzip is not compressed", m[1], len(want))
		}
		if !bytes.Equal(body, want) {
			t.Errorf("GET %s does not serve %s", m[1], name)
		}
		if res, body := get(t, c, srv.URL+m[1], "", ""); res.Header.Get("Content-Encoding") != "" || !bytes.Equal(body, want) {
			t.Errorf("GET %s without gzip: Content-Encoding %q", m[1], res.Header.Get("Content-Encoding"))
		}
		if res, body := get(t, c, srv.URL+m[1], "gzip", etag); res.StatusCode != 304 || len(body) != 0 || res.Header.Get("ETag") != etag {
			t.Errorf("GET %s If-None-Match %s = %d with %d bytes; want 304, empty", m[1], etag, res.StatusCode, len(body))
		}
		res, body = get(t, c, srv.URL+"/static/"+name, "", "")
		if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "public, max-age=300" || res.Header.Get("ETag") != etag || !bytes.Equal(body, want) {
			t.Errorf("GET /static/%s = %d, Cache-Control %q, ETag %q; want 200, a short cache, ETag %s", name, res.StatusCode, res.Header.Get("Cache-Control"), res.Header.Get("ETag"), etag)
		}
		// A versioned URL of another content (a page of another release) is
		// answered with today's file, not cached for good.
		res, _ = get(t, c, srv.URL+"/static/"+stem+".0123456789."+ext, "", "")
		if res.StatusCode != 200 || strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("GET a stale versioned %s = %d, Cache-Control %q; want 200 without immutable", name, res.StatusCode, res.Header.Get("Cache-Control"))
		}
	}

	res, ico := get(t, c, srv.URL+"/favicon.ico", "", "")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/x-icon" || !bytes.HasPrefix(ico, []byte{0, 0, 1, 0}) {
		t.Errorf("GET /favicon.ico = %d %q, % x…; want an icon", res.StatusCode, res.Header.Get("Content-Type"), ico[:min(4, len(ico))])
	}
	for _, path := range []string{"/static/", "/static/nope.css", "/static/console.css/x"} {
		if res, _ := get(t, c, srv.URL+path, "", ""); res.StatusCode != 404 {
			t.Errorf("GET %s = %d; want 404", path, res.StatusCode)
		}
	}
}
