package httpapi_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDeclaredTooLarge sends only the headers of requests that declare a
// body over the endpoint's limit: each is answered 413 too_large naming the
// field without waiting for the body (the server's read timeout is far
// longer than the test's read deadline).
func TestDeclaredTooLarge(t *testing.T) {
	a := newTestAPI(t)
	key := a.tenant(t, "acme", "ingest", "admin")
	for _, tc := range []struct {
		method, path, auth, field string
	}{
		{"POST", "/v1/events", key, "body"},
		{"POST", "/v1/tenants", rootKey, "body"},
		{"PUT", "/v1/settings", key, "body"},
		{"POST", "/v1/viewer-tokens", key, "body"},
	} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(a.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
			tc.method, tc.path, tc.auth, int64(1)<<40)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Errorf("%s %s with a declared 1 TiB body and none sent: %v; want a 413 before the body", tc.method, tc.path, err)
			conn.Close()
			continue
		}
		var body struct {
			Error struct{ Code, Message, Field string }
		}
		err = json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		conn.Close()
		if res.StatusCode != 413 || err != nil || body.Error.Code != "too_large" || body.Error.Field != tc.field || body.Error.Message == "" {
			t.Errorf("%s %s with a declared 1 TiB body = %d %+v (%v); want 413 too_large naming %s", tc.method, tc.path, res.StatusCode, body, err, tc.field)
		}
	}
}
