package receivertest

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RsyslogPath is Debian's rsyslogd.
const RsyslogPath = "/usr/sbin/rsyslogd"

// Rsyslog is a real rsyslogd listening on loopback TCP (or TLS) with its
// own configuration in a test's temporary directory; it writes each
// message it receives as one line of a file.
type Rsyslog struct {
	// Addr is where it listens, host:port.
	Addr string
	// Certs are its TLS certificates (when started with TLS).
	Certs Certs

	t    testing.TB
	dir  string
	conf string
	proc process
}

// RsyslogOptions choose how rsyslogd listens.
type RsyslogOptions struct {
	TLS bool
	// ClientAuth makes it accept only senders with a certificate of
	// Certs' CA (StreamDriver.AuthMode x509/certvalid). TLS only.
	ClientAuth bool
}

// StartRsyslog starts rsyslogd, or skips the test when it is not
// installed (and fails under CI=true). It is stopped when the test ends.
func StartRsyslog(t testing.TB, o RsyslogOptions) *Rsyslog {
	t.Helper()
	if _, err := os.Stat(RsyslogPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("rsyslogd is required under CI=true: %v", err)
		}
		t.Skipf("rsyslogd not installed (%v): apt-get install rsyslog rsyslog-gnutls", err)
	}
	r := &Rsyslog{t: t, dir: t.TempDir()}
	input := `module(load="imtcp")`
	global := ""
	if o.TLS {
		r.Certs = NewCerts(t)
		for name, pem := range map[string]string{"ca.pem": r.Certs.CA, "cert.pem": r.Certs.Cert, "key.pem": r.Certs.Key} {
			if err := os.WriteFile(filepath.Join(r.dir, name), []byte(pem), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		global = fmt.Sprintf(` DefaultNetstreamDriver="gtls" DefaultNetstreamDriverCAFile=%q DefaultNetstreamDriverCertFile=%q DefaultNetstreamDriverKeyFile=%q`,
			filepath.Join(r.dir, "ca.pem"), filepath.Join(r.dir, "cert.pem"), filepath.Join(r.dir, "key.pem"))
		mode := "anon"
		if o.ClientAuth {
			mode = "x509/certvalid"
		}
		input = fmt.Sprintf(`module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode=%q)`, mode)
	}
	// The template writes the fields a test checks, tab-separated, one
	// message a line; the Direct queue writes each message before
	// rsyslogd reads on.
	r.conf = fmt.Sprintf(`global(workDirectory=%q maxMessageSize="256k"%s)
%s
input(type="imtcp" port="%%PORT%%" listenPortFileName=%q)
main_queue(queue.type="Direct")
template(name="fields" type="string" string="%%pri%%\t%%timereported:::date-rfc3339%%\t%%hostname%%\t%%app-name%%\t%%procid%%\t%%msgid%%\t%%structured-data%%\t%%msg%%\n")
action(type="omfile" file=%q template="fields")
`, r.dir, global, input, filepath.Join(r.dir, "port"), filepath.Join(r.dir, "messages"))
	r.start("0")
	t.Cleanup(r.Stop)
	return r
}

func (r *Rsyslog) start(port string) {
	r.t.Helper()
	conf := filepath.Join(r.dir, "rsyslog.conf")
	os.Remove(filepath.Join(r.dir, "port"))
	if err := os.WriteFile(conf, []byte(strings.Replace(r.conf, "%PORT%", port, 1)), 0o600); err != nil {
		r.t.Fatal(err)
	}
	r.proc.start(r.t, func() bool {
		// rsyslogd writes the port file when it chose the port; on a port
		// given, it listens once a connection succeeds.
		if port == "0" {
			b, err := os.ReadFile(filepath.Join(r.dir, "port"))
			if p, _ := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && p > 0 {
				r.Addr = "127.0.0.1:" + strconv.Itoa(p)
				return true
			}
			return false
		}
		return listening(r.Addr)
	}, RsyslogPath, "-n", "-f", conf, "-i", filepath.Join(r.dir, "pid"))
}

// Stop stops rsyslogd (SIGTERM: it writes what it has read) and waits for
// it.
func (r *Rsyslog) Stop() { r.proc.stop() }

// Restart stops rsyslogd and starts it again on the same port.
func (r *Rsyslog) Restart() {
	r.t.Helper()
	r.Stop()
	_, port, _ := strings.Cut(r.Addr, ":")
	r.start(port)
}

// SyslogMessage is one message as rsyslogd parsed it.
type SyslogMessage struct {
	PRI, Timestamp, Hostname, AppName, ProcID, MsgID string
	// SD is the structured data as rsyslogd keeps it ("[id k=\"v\" …]").
	SD  string
	Msg string
}

// Messages returns the messages rsyslogd has written so far.
func (r *Rsyslog) Messages() []SyslogMessage {
	r.t.Helper()
	f, err := os.Open(filepath.Join(r.dir, "messages"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	var ms []SyslogMessage
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		p := strings.SplitN(sc.Text(), "\t", 8)
		if len(p) != 8 {
			r.t.Fatalf("rsyslogd wrote %q", sc.Text())
		}
		ms = append(ms, SyslogMessage{p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]})
	}
	if err := sc.Err(); err != nil {
		r.t.Fatal(err)
	}
	return ms
}

// WaitMessages waits up to timeout for at least n messages and returns
// those there are.
func (r *Rsyslog) WaitMessages(n int, timeout time.Duration) []SyslogMessage {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ms := r.Messages()
		if len(ms) >= n || time.Now().After(deadline) {
			return ms
		}
		time.Sleep(20 * time.Millisecond)
	}
}
