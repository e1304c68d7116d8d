package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HTTPError classifies a receiver's HTTP answer: nil for 2xx; Retry for
// 408, 425, 429 and 5xx, with the receiver's Retry-After (seconds or an
// HTTP date) when it sent one; TooLarge for 413; Auth for 401 and 403;
// Permanent for any other status. detail, when not empty, is what the
// receiver said, added to the message.
func HTTPError(status int, header http.Header, detail string, now time.Time) *Error {
	if status >= 200 && status < 300 {
		return nil
	}
	e := &Error{Status: status, Message: fmt.Sprintf("receiver answered %d %s", status, http.StatusText(status))}
	if detail = strings.TrimSpace(detail); detail != "" {
		if len(detail) > 200 {
			detail = detail[:200] + "…"
		}
		e.Message += ": " + detail
	}
	switch {
	case status == http.StatusRequestTimeout || status == http.StatusTooEarly || status == http.StatusTooManyRequests || status >= 500:
		e.Kind = Retry
		e.RetryAfter = RetryAfter(header.Get("Retry-After"), now)
	case status == http.StatusRequestEntityTooLarge:
		e.Kind = TooLarge
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Kind = Auth
	default:
		e.Kind = Permanent
	}
	return e
}

// RetryAfter reads a Retry-After value, delay-seconds or an HTTP date, as
// the wait from now; 0 when absent, malformed or past.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// post sends req (made with a context whose deadline is timeout) and
// classifies the outcome as HTTPError does, or as Retry when the receiver
// was not reached or did not answer in time; detail turns the start of the
// answer's body into text for the message, and name starts the message.
func post(client *http.Client, req *http.Request, name string, timeout time.Duration, detail func([]byte) string) error {
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(req.Context().Err(), context.DeadlineExceeded) {
			return retryf("%s: no answer within %s", name, timeout)
		}
		return retryf("%s: %v", name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if e := HTTPError(resp.StatusCode, resp.Header, detail(body), time.Now()); e != nil {
		e.Message = name + ": " + e.Message
		return e
	}
	return nil
}

// PostRequest sends req, made with a context whose deadline is timeout,
// and classifies the outcome as Webhook.Post does; name starts the
// message. For senders of other HTTP messages (chat webhooks).
func PostRequest(client *http.Client, req *http.Request, name string, timeout time.Duration) error {
	return post(client, req, name, timeout, printable)
}
