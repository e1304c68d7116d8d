package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/auditkeep/auditkeep/client"
)

// defaultServer is where the client commands look for a server.
const defaultServer = "http://127.0.0.1:8080"

// clientFlags are the flags of every command that talks to a server.
type clientFlags struct {
	server string
	key    string
	json   bool
}

// addClientFlags defines --server, --key and --json on fs, with defaults from
// AUDITKEEP_SERVER and AUDITKEEP_KEY (then AUDITKEEP_ROOT_KEY when rootOK:
// for commands an operator runs with the root key).
func addClientFlags(fs *flag.FlagSet, e *env, rootOK bool) *clientFlags {
	c := &clientFlags{}
	server := e.getenv("AUDITKEEP_SERVER")
	if server == "" {
		server = defaultServer
	}
	key := e.getenv("AUDITKEEP_KEY")
	keyHelp := "API key (default $AUDITKEEP_KEY)"
	if rootOK {
		if key == "" {
			key = e.getenv("AUDITKEEP_ROOT_KEY")
		}
		keyHelp = "API key (default $AUDITKEEP_KEY, else $AUDITKEEP_ROOT_KEY)"
	}
	fs.StringVar(&c.server, "server", server, "server URL (default $AUDITKEEP_SERVER or "+defaultServer+")")
	fs.StringVar(&c.key, "key", key, keyHelp)
	fs.BoolVar(&c.json, "json", false, "print JSON instead of text")
	return c
}

// check validates the flags; its error is a usage error.
func (c *clientFlags) check() error {
	if err := c.checkServer(); err != nil {
		return err
	}
	if c.key == "" {
		return errors.New("no API key: give --key or set AUDITKEEP_KEY")
	}
	return nil
}

// checkServer validates --server alone, for commands that need no key.
func (c *clientFlags) checkServer() error {
	u, err := url.Parse(c.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--server %q is not an http:// or https:// URL", c.server)
	}
	return nil
}

// client returns a client of the server.
func (c *clientFlags) client() *client.Client {
	return client.New(c.server, c.key, client.WithUserAgent("auditkeep-cli/1"))
}

// newFlagSet returns a flag set that reports to e.stderr, with a usage
// message made of synopsis (the command line) and the flags.
func newFlagSet(e *env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: auditkeep %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses flags wherever they appear among the positional
// arguments ("tenant create acme --plan business" as well as "--plan
// business acme"), and returns the positional ones. Everything after "--" is
// positional.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for i, a := range args {
		if a == "--" {
			rest = args[i+1:]
			args = args[:i]
			break
		}
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return append(pos, rest...), nil
}

// usageError reports a usage error of the command name and returns exitUsage.
func usageError(e *env, name string, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	// The flag package has already printed its own errors and the usage.
	if !isFlagError(err) {
		fmt.Fprintf(e.stderr, "auditkeep %s: %v\nRun 'auditkeep %s -h' for usage.\n", name, err, name)
	}
	return exitUsage
}

// flagError marks errors the flag package reported itself.
type flagError struct{ error }

func (e flagError) Unwrap() error { return e.error }

func isFlagError(err error) bool {
	var fe flagError
	return errors.As(err, &fe)
}

// parse is parseArgs with the flag package's errors marked as reported.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	pos, err := parseArgs(fs, args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return nil, flagError{err}
	}
	return pos, err
}

// requestFailed reports a failed request and returns exitNegative: the server
// refused, or could not be reached.
func requestFailed(e *env, name string, err error) int {
	var ae *client.APIError
	if errors.As(err, &ae) {
		msg := ae.Message
		if ae.Field != "" && !strings.Contains(msg, ae.Field) {
			msg += " (" + ae.Field + ")"
		}
		fmt.Fprintf(e.stderr, "auditkeep %s: %s [%d %s]\n", name, clean(msg), ae.Status, ae.Code)
		if ae.Status == 401 {
			fmt.Fprintf(e.stderr, "Check --key or AUDITKEEP_KEY.\n")
		}
		return exitNegative
	}
	fmt.Fprintf(e.stderr, "auditkeep %s: %v\n", name, err)
	return exitNegative
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// stringList is a flag that may be repeated; its values accumulate.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// clean makes attacker-controlled text safe to print on a terminal: control
// characters (escape sequences among them) become '?'.
func clean(s string) string {
	ok := true
	for _, r := range s {
		if isControl(r) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isControl(r) {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isControl(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 ||
		(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) // bidirectional overrides
}
