package transport_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/stream/receivertest"
	"github.com/auditkeep/auditkeep/internal/stream/transport"
)

// uniqueName is a stream and subject name no other test run uses.
func uniqueName(t *testing.T) string {
	return fmt.Sprintf("AK_%s_%d", strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()), time.Now().UnixNano())
}

// TestNATSDelivers: batches published to the local JetStream are stored
// in order, each message with the record's payload, its Nats-Msg-Id and
// the stream's fields as headers; a batch sent again is dropped as
// duplicates.
func TestNATSDelivers(t *testing.T) {
	url := receivertest.SharedNATS(t)
	js := receivertest.JetStream(t, url)
	name := uniqueName(t)
	subject := "auditkeep.test." + name
	receivertest.CreateStream(t, js, name, subject)
	tr, err := transport.Open("nats", json.RawMessage(fmt.Sprintf(`{"url":%q,"subject":%q,"stream":%q}`, url, subject, name)), "", transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var sent []*transport.Batch
	for i, f := range []string{"native", "ocsf", "ecs", "cef"} {
		b := testBatch(t, f, int64(1+i*500), 500)
		if i == 3 {
			b.Records[499].Test = true
			b.Records[499].StreamSeq = 0
		}
		if err := tr.Send(context.Background(), b); err != nil {
			t.Fatalf("Send(%s): %v", f, err)
		}
		sent = append(sent, b)
	}
	// Sent again (a retry after a lost acknowledgement): nothing new.
	if err := tr.Send(context.Background(), sent[1]); err != nil {
		t.Fatal(err)
	}
	msgs := receivertest.StreamMessages(t, js, name)
	if len(msgs) != 2000 {
		t.Fatalf("stream holds %d messages; want 2000", len(msgs))
	}
	for i, m := range msgs {
		b := sent[i/500]
		r, p := b.Records[i%500], b.Payloads[i%500]
		h := m.Headers()
		want := map[string]string{
			"Nats-Msg-Id":               "str_1." + strconv.FormatInt(r.StreamSeq, 10),
			"Auditkeep-Tenant":          "acme",
			"Auditkeep-Seq":             strconv.FormatInt(r.Event.Seq, 10),
			"Auditkeep-Stream-Id":       "str_1",
			"Auditkeep-Stream-Seq":      strconv.FormatInt(r.StreamSeq, 10),
			"Auditkeep-Prev-Stream-Seq": strconv.FormatInt(r.PrevStreamSeq, 10),
		}
		if r.Test {
			want["Nats-Msg-Id"] = b.ID + ".499"
			want["Auditkeep-Test"] = "true"
		}
		for k, v := range want {
			if h.Get(k) != v {
				t.Errorf("message %d %s = %q; want %q", i, k, h.Get(k), v)
			}
		}
		if string(m.Data()) != string(p) || m.Subject() != subject {
			t.Errorf("message %d on %s = %s; want %s", i, m.Subject(), m.Data(), p)
		}
	}
}

// TestNATSFaults: no stream for the subject, or another stream than the
// one named, is Permanent; refused credentials are Auth; a server that is
// down is Retry, and the transport reconnects once it is back, with what
// it stored before kept.
func TestNATSFaults(t *testing.T) {
	url := receivertest.SharedNATS(t)
	js := receivertest.JetStream(t, url)
	name := uniqueName(t)
	receivertest.CreateStream(t, js, name, "auditkeep.test."+name)
	send := func(settings string, secret string) *transport.Error {
		t.Helper()
		tr, err := transport.Open("nats", json.RawMessage(settings), secret, transport.Options{Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		err = tr.Send(context.Background(), testBatch(t, "native", 1, 3))
		var te *transport.Error
		if err != nil && !errors.As(err, &te) {
			t.Fatalf("Send = %v; want a *transport.Error", err)
		}
		return te
	}
	if e := send(fmt.Sprintf(`{"url":%q,"subject":"auditkeep.nostream.%s"}`, url, name), ""); e == nil || e.Kind != transport.Permanent || !strings.Contains(e.Message, "no JetStream stream") {
		t.Errorf("Send to a subject no stream takes = %+v; want Permanent", e)
	}
	if e := send(fmt.Sprintf(`{"url":%q,"subject":"auditkeep.test.%s","stream":"OTHER"}`, url, name), ""); e == nil || e.Kind != transport.Permanent {
		t.Errorf("Send expecting another stream = %+v; want Permanent", e)
	}

	n := receivertest.StartNATS(t, "s3cret-token")
	own := receivertest.JetStream(t, n.URL, nats.Token("s3cret-token"), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	receivertest.CreateStream(t, own, "AUDIT", "audit.acme")
	settings := fmt.Sprintf(`{"url":%q,"subject":"audit.acme"}`, n.URL)
	if e := send(settings, "wrong"); e == nil || e.Kind != transport.Auth {
		t.Errorf("Send with a wrong token = %+v; want Auth", e)
	}
	if e := send(settings, ""); e == nil || e.Kind != transport.Auth {
		t.Errorf("Send without a token = %+v; want Auth", e)
	}
	tr, err := transport.Open("nats", json.RawMessage(settings), "s3cret-token", transport.Options{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Send(context.Background(), testBatch(t, "native", 1, 100)); err != nil {
		t.Fatal(err)
	}
	n.Stop()
	var te *transport.Error
	if err := tr.Send(context.Background(), testBatch(t, "native", 101, 100)); !errors.As(err, &te) || te.Kind != transport.Retry {
		t.Errorf("Send to a stopped server = %v; want Retry", err)
	}
	n.Restart()
	if err := tr.Send(context.Background(), testBatch(t, "native", 101, 100)); err != nil {
		t.Fatalf("Send after the server restarted: %v", err)
	}
	if msgs := receivertest.StreamMessages(t, own, "AUDIT"); len(msgs) != 200 {
		t.Errorf("stream holds %d messages after a restart; want 200", len(msgs))
	}
}

// TestNATSSettings: settings the transport refuses name their field.
func TestNATSSettings(t *testing.T) {
	cases := []struct{ settings, secret, field string }{
		{`{"subject":"a"}`, "", "settings.url"},
		{`{"url":"http://x:4222","subject":"a"}`, "", "settings.url"},
		{`{"url":"nats://u:p@x:4222","subject":"a"}`, "", "settings.url"},
		{`{"url":"nats://x:4222"}`, "", "settings.subject"},
		{`{"url":"nats://x:4222","subject":"a.*"}`, "", "settings.subject"},
		{`{"url":"nats://x:4222","subject":"a..b"}`, "", "settings.subject"},
		{`{"url":"nats://x:4222","subject":"a b"}`, "", "settings.subject"},
		{`{"url":"nats://x:4222","subject":"a","stream":"a.b"}`, "", "settings.stream"},
		{`{"url":"nats://x:4222","subject":"a","user":"u"}`, "", "secret"},
		{`{"url":"nats://x:4222","subject":"a","ca":"x"}`, "", "settings.url"},
		{`{"url":"tls://x:4222","subject":"a","ca":"x"}`, "", "settings.ca"},
		{`{"url":"nats://x:4222","subject":"a","token":"x"}`, "", "settings.token"},
	}
	for _, c := range cases {
		err := transport.Validate("nats", json.RawMessage(c.settings), c.secret)
		var e *auditkeep.Error
		if !errors.As(err, &e) || e.Code != auditkeep.EINVALID || e.Field != c.field {
			t.Errorf("Validate(nats, %s, %q) = %v; want EINVALID naming %s", c.settings, c.secret, err, c.field)
		}
	}
	if err := transport.Validate("nats", json.RawMessage(`{"url":"tls://a:4222,tls://b:4222","subject":"audit.acme","user":"u"}`), "pw"); err != nil {
		t.Errorf("Validate(good) = %v", err)
	}
}

// TestNATSTLS: over tls://, a server whose certificate settings.ca holds
// takes the batch; without settings.ca the certificate is refused (Retry).
func TestNATSTLS(t *testing.T) {
	n := receivertest.StartNATSTLS(t, "tls-token")
	js := receivertest.JetStream(t, n.URL, nats.Token("tls-token"), nats.RootCAs(writeTemp(t, n.Certs.CA)))
	receivertest.CreateStream(t, js, "AUDIT", "audit.acme")
	ca, _ := json.Marshal(n.Certs.CA)
	tr, err := transport.Open("nats", json.RawMessage(fmt.Sprintf(`{"url":%q,"subject":"audit.acme","ca":%s}`, n.URL, ca)), "tls-token", transport.Options{Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Send(context.Background(), testBatch(t, "cef", 1, 20)); err != nil {
		t.Fatalf("Send over TLS: %v", err)
	}
	if msgs := receivertest.StreamMessages(t, js, "AUDIT"); len(msgs) != 20 {
		t.Errorf("stream holds %d messages; want 20", len(msgs))
	}
	untrusted, _ := transport.Open("nats", json.RawMessage(fmt.Sprintf(`{"url":%q,"subject":"audit.acme"}`, n.URL)), "tls-token", transport.Options{Timeout: 3 * time.Second})
	defer untrusted.Close()
	var te *transport.Error
	if err := untrusted.Send(context.Background(), testBatch(t, "cef", 21, 1)); !errors.As(err, &te) || te.Kind != transport.Retry || !strings.Contains(te.Message, "certificate") {
		t.Errorf("Send to an untrusted certificate = %v; want Retry naming the certificate", err)
	}
}

// writeTemp writes s to a file of the test's and returns its path.
func writeTemp(t *testing.T, s string) string {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
