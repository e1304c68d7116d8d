package transport_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/stream/receivertest"
	"github.com/auditkeep/auditkeep/internal/stream/transport"
)

func syslogSettings(t *testing.T, r *receivertest.Rsyslog, tls bool, extra string) json.RawMessage {
	s := fmt.Sprintf(`{"address":%q`, r.Addr)
	if tls {
		ca, _ := json.Marshal(r.Certs.CA)
		s += fmt.Sprintf(`,"tls":true,"ca":%s`, ca)
	}
	return json.RawMessage(s + extra + "}")
}

// TestSyslogDelivers: batches of CEF and JSON records reach a real
// rsyslogd, over TCP and over TLS, each as one RFC 5424 message that
// rsyslogd parses: PRI, timestamp, hostname, app, MSGID the action, the
// structured data with the stream's fields, the payload as the message.
func TestSyslogDelivers(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "tcp", true: "tls"}[useTLS], func(t *testing.T) {
			r := receivertest.StartRsyslog(t, receivertest.RsyslogOptions{TLS: useTLS})
			tr, err := transport.Open("syslog", syslogSettings(t, r, useTLS, `,"facility":10`), "", transport.Options{Host: "ak-node-1"})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			var sent []*transport.Batch
			for i, name := range []string{"cef", "native", "cef"} {
				b := testBatch(t, name, int64(1+i*200), 200)
				if i == 2 {
					b.Records[0].Test = true
					b.Records[5].Event.Status = auditkeep.StatusFailure
				}
				if err := tr.Send(context.Background(), b); err != nil {
					t.Fatalf("Send(%s): %v", name, err)
				}
				sent = append(sent, b)
			}
			ms := r.WaitMessages(600, 10*time.Second)
			if len(ms) != 600 {
				t.Fatalf("rsyslogd wrote %d messages; want 600", len(ms))
			}
			for i, m := range ms {
				b := sent[i/200]
				rec, p := b.Records[i%200], b.Payloads[i%200]
				pri := "85" // facility 10 × 8 + notice
				if rec.Event.Status == auditkeep.StatusFailure {
					pri = "84"
				}
				sd := fmt.Sprintf(`[auditkeep@32473 tenant="acme" seq="%d" stream_id="str_1" stream_seq="%d" prev_stream_seq="%d"`, rec.Event.Seq, rec.StreamSeq, rec.PrevStreamSeq)
				if rec.Test {
					sd += ` test="true"`
				}
				sd += "]"
				ts, err := time.Parse(time.RFC3339Nano, m.Timestamp)
				if err != nil || !ts.Equal(rec.Event.OccurredAt) {
					t.Errorf("message %d timestamp %q; want %v", i, m.Timestamp, rec.Event.OccurredAt)
				}
				if m.PRI != pri || m.Hostname != "ak-node-1" || m.AppName != "auditkeep" || m.ProcID != "-" || m.MsgID != "environment.update" || m.SD != sd {
					t.Errorf("message %d = %+v; want pri %s, sd %s", i, m, pri, sd)
				}
				// rsyslogd shows control characters as #ooo; none is left
				// in either format.
				if m.Msg != string(p) {
					t.Errorf("message %d msg\n%s\nwant\n%s", i, m.Msg, p)
				}
			}
		})
	}
}

// TestSyslogClientCertificate: a receiver that authenticates its senders
// takes a stream with settings.client_cert and its key as the secret, and
// refuses one without.
func TestSyslogClientCertificate(t *testing.T) {
	r := receivertest.StartRsyslog(t, receivertest.RsyslogOptions{TLS: true, ClientAuth: true})
	cert, _ := json.Marshal(r.Certs.Cert)
	tr, err := transport.Open("syslog", syslogSettings(t, r, true, `,"client_cert":`+string(cert)), r.Certs.Key, transport.Options{Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Send(context.Background(), testBatch(t, "cef", 1, 5)); err != nil {
		t.Fatalf("Send with a client certificate: %v", err)
	}
	if ms := r.WaitMessages(5, 10*time.Second); len(ms) != 5 {
		t.Fatalf("rsyslogd wrote %d messages; want 5", len(ms))
	}
	tr, _ = transport.Open("syslog", syslogSettings(t, r, true, ""), "", transport.Options{Timeout: 3 * time.Second})
	var te *transport.Error
	if err := tr.Send(context.Background(), testBatch(t, "cef", 6, 5)); !errors.As(err, &te) || te.Kind != transport.Retry {
		t.Errorf("Send without a client certificate = %v; want Retry", err)
	}
	time.Sleep(200 * time.Millisecond)
	if ms := r.Messages(); len(ms) != 5 {
		t.Errorf("rsyslogd wrote %d messages; want 5", len(ms))
	}
}

// TestSyslogUnconfirmed: a batch counts as delivered only once the
// receiver has read it to the end and closed: a receiver that resets the
// connection without reading, or never closes, or is not listening, or
// whose certificate is not trusted, is Retry.
func TestSyslogUnconfirmed(t *testing.T) {
	listen := func(handle func(c net.Conn)) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go handle(c)
			}
		}()
		return l.Addr().String()
	}
	hold := make(chan struct{})
	defer close(hold)
	cases := map[string]string{
		// Reads a little, then closes with the rest unread: the kernel
		// resets the connection.
		"reset": listen(func(c net.Conn) {
			c.Read(make([]byte, 100))
			time.Sleep(50 * time.Millisecond)
			c.Close()
		}),
		// Reads everything, never closes.
		"silent": listen(func(c net.Conn) {
			go func() { <-hold; c.Close() }()
			for {
				if _, err := c.Read(make([]byte, 4096)); err != nil {
					return
				}
			}
		}),
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	cases["closed port"] = l.Addr().String()
	l.Close()
	for name, addr := range cases {
		tr, err := transport.Open("syslog", json.RawMessage(`{"address":"`+addr+`"}`), "", transport.Options{Timeout: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		var te *transport.Error
		if err := tr.Send(context.Background(), testBatch(t, "cef", 1, 2000)); !errors.As(err, &te) || te.Kind != transport.Retry || !strings.HasPrefix(te.Message, "syslog: ") {
			t.Errorf("%s: Send = %v; want Retry", name, err)
		}
	}
	r := receivertest.StartRsyslog(t, receivertest.RsyslogOptions{TLS: true})
	tr, _ := transport.Open("syslog", json.RawMessage(`{"address":"`+r.Addr+`","tls":true}`), "", transport.Options{Timeout: 3 * time.Second})
	var te *transport.Error
	if err := tr.Send(context.Background(), testBatch(t, "cef", 1, 1)); !errors.As(err, &te) || te.Kind != transport.Retry || !strings.Contains(te.Message, "certificate") {
		t.Errorf("Send to an untrusted certificate = %v; want Retry naming the certificate", err)
	}
}

// TestSyslogRestartedReceiver: a receiver stopped and started again on
// its port takes the next batch.
func TestSyslogRestartedReceiver(t *testing.T) {
	r := receivertest.StartRsyslog(t, receivertest.RsyslogOptions{})
	tr, _ := transport.Open("syslog", syslogSettings(t, r, false, ""), "", transport.Options{Timeout: 3 * time.Second})
	if err := tr.Send(context.Background(), testBatch(t, "cef", 1, 10)); err != nil {
		t.Fatal(err)
	}
	r.Stop()
	if err := tr.Send(context.Background(), testBatch(t, "cef", 11, 10)); err == nil {
		t.Fatal("Send to a stopped receiver = nil")
	}
	r.Restart()
	if err := tr.Send(context.Background(), testBatch(t, "cef", 11, 10)); err != nil {
		t.Fatal(err)
	}
	if ms := r.WaitMessages(20, 10*time.Second); len(ms) != 20 {
		t.Errorf("rsyslogd wrote %d messages; want 20", len(ms))
	}
}

// TestSyslogSettings: settings the transport refuses name their field.
func TestSyslogSettings(t *testing.T) {
	cases := []struct{ settings, secret, field string }{
		{`{}`, "", "settings.address"},
		{`{"address":"nohost"}`, "", "settings.address"},
		{`{"address":"h:99999"}`, "", "settings.address"},
		{`{"address":"h:514","facility":24}`, "", "settings.facility"},
		{`{"address":"h:514","app_name":"a b"}`, "", "settings.app_name"},
		{`{"address":"h:514","hostname":"h\u00e9"}`, "", "settings.hostname"},
		{`{"address":"h:514","ca":"x"}`, "", "settings.tls"},
		{`{"address":"h:514"}`, "key", "settings.tls"},
		{`{"address":"h:514","tls":true,"ca":"x"}`, "", "settings.ca"},
		{`{"address":"h:514","tls":true,"client_cert":"x"}`, "", "secret"},
		{`{"address":"h:514","tls":true}`, "key", "settings.client_cert"},
		{`{"address":"h:514","tls":true,"client_cert":"x"}`, "key", "settings.client_cert"},
		{`{"address":"h:514","port":1}`, "", "settings.port"},
	}
	for _, c := range cases {
		err := transport.Validate("syslog", json.RawMessage(c.settings), c.secret)
		var e *auditkeep.Error
		if !errors.As(err, &e) || e.Code != auditkeep.EINVALID || e.Field != c.field {
			t.Errorf("Validate(syslog, %s, %q) = %v; want EINVALID naming %s", c.settings, c.secret, err, c.field)
		}
	}
	if err := transport.Validate("syslog", json.RawMessage(`{"address":"siem.example.com:6514","tls":true}`), ""); err != nil {
		t.Errorf("Validate(good) = %v", err)
	}
}
