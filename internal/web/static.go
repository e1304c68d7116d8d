package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

// Caching of the static files: a versioned URL names one content forever;
// a plain one may change with the next release.
const (
	cacheVersioned = "public, max-age=31536000, immutable"
	cachePlain     = "public, max-age=300"
)

// minCompressed is the smallest answer worth compressing, in bytes.
const minCompressed = 1024

// hashLen is the length of the content hash in a versioned name.
const hashLen = 10

// asset is one of the embedded static files.
type asset struct {
	versioned string // "console.1a2b3c4d5e.css"
	ctype     string
	etag      string // quoted: the content hash
	body, gz  []byte // gz is nil when compression does not pay
}

var contentTypes = map[string]string{
	".css": "text/css; charset=utf-8",
	".js":  "text/javascript; charset=utf-8",
	".svg": "image/svg+xml",
	".ico": "image/x-icon",
}

// assets returns the embedded static files by plain name, read and
// compressed once.
var assets = sync.OnceValue(func() map[string]*asset {
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic("web: static files: " + err.Error())
	}
	out := map[string]*asset{}
	err = fs.WalkDir(static, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(static, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		hash := hex.EncodeToString(sum[:])[:hashLen]
		ext := path.Ext(name)
		a := &asset{versioned: strings.TrimSuffix(name, ext) + "." + hash + ext, ctype: contentTypes[ext], etag: `"` + hash + `"`, body: body}
		if a.ctype == "" {
			a.ctype = "application/octet-stream"
		}
		if gz := compress(body); gz != nil && len(gz) < len(body) {
			a.gz = gz
		}
		out[name] = a
		return nil
	})
	if err != nil {
		panic("web: static files: " + err.Error())
	}
	return out
})

// assetURL returns the versioned URL of the static file name.
func assetURL(name string) string {
	if a, ok := assets()[name]; ok {
		return "/static/" + a.versioned
	}
	return "/static/" + name
}

// lookupAsset finds the static file a URL names: its versioned name (then
// versioned is true), its plain name, or a versioned name of another
// content, such as a page of the previous release asks for.
func lookupAsset(name string) (a *asset, versioned bool) {
	all := assets()
	if a, ok := all[name]; ok {
		return a, false
	}
	ext := path.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	dot := strings.LastIndexByte(stem, '.')
	if dot < 0 || len(stem)-dot-1 != hashLen {
		return nil, false
	}
	a, ok := all[stem[:dot]+ext]
	if !ok {
		return nil, false
	}
	return a, a.versioned == name
}

// handleStatic serves /static/{name} and /favicon.ico: a versioned URL with a
// year's immutable cache, a plain one with a short cache; an ETag for
// revalidation; gzip when the client takes it.
func (c *Console) handleStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if r.URL.Path == "/favicon.ico" {
		name = "favicon.ico"
	}
	a, versioned := lookupAsset(name)
	if a == nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", cachePlain)
	if versioned {
		h.Set("Cache-Control", cacheVersioned)
	}
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	if a.gz != nil {
		h.Add("Vary", "Accept-Encoding")
	}
	if etagMatches(r.Header.Get("If-None-Match"), a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", a.ctype)
	body := a.body
	if a.gz != nil && acceptsGzip(r) {
		body = a.gz
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// etagMatches reports whether an If-None-Match header names etag (weakly
// compared, as RFC 9110 asks for this header).
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// acceptsGzip reports whether r's Accept-Encoding allows gzip: named, or
// "*", with a q-value above zero.
func acceptsGzip(r *http.Request) bool {
	star, gz := false, false
	seenGzip := false
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(part, ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		ok := true
		if k, v, found := strings.Cut(strings.TrimSpace(params), "="); found && strings.EqualFold(strings.TrimSpace(k), "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			ok = err == nil && q > 0
		}
		switch coding {
		case "gzip", "x-gzip":
			seenGzip, gz = true, ok
		case "*":
			star = ok
		}
	}
	if seenGzip {
		return gz
	}
	return star
}

// compress returns b gzipped, or nil if that fails.
func compress(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		return nil
	}
	if err := zw.Close(); err != nil {
		return nil
	}
	return buf.Bytes()
}

// writeBody writes a page's body, gzipped when it is large enough and the
// client takes gzip.
func writeBody(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	h := w.Header()
	h.Add("Vary", "Accept-Encoding")
	if len(body) >= minCompressed && acceptsGzip(r) {
		if gz := compress(body); gz != nil {
			body = gz
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}
