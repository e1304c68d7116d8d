package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/auditkeep/auditkeep/client"
	"github.com/auditkeep/auditkeep/internal/search"
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
// for commands an operator runs with the root key). Usage messages tell
// where the key comes from and whether it is set, never the key itself.
func addClientFlags(fs *flag.FlagSet, e *env, rootOK bool) *clientFlags {
	c := &clientFlags{}
	server := e.getenv("AUDITKEEP_SERVER")
	if server == "" {
		server = defaultServer
	}
	key := &secretFlag{value: &c.key, sources: []string{"AUDITKEEP_KEY"}}
	if rootOK {
		key.sources = append(key.sources, "AUDITKEEP_ROOT_KEY")
	}
	key.fromEnv(e.getenv)
	fs.StringVar(&c.server, "server", server, "server URL; $AUDITKEEP_SERVER when set")
	fs.Var(key, "key", "API key")
	fs.BoolVar(&c.json, "json", false, "print JSON instead of text")
	return c
}

// secretFlag is a flag holding a secret, such as an API key, that defaults
// to the first of some environment variables that is set. Its String, which
// the flag package prints as the default in usage messages, names the
// variables and says whether one is set; it never holds the value.
type secretFlag struct {
	value   *string
	sources []string // environment variables, in order of preference
	from    string   // the variable the value came from; "" when given as a flag or unset
}

// fromEnv sets the value from the first of the sources that is set.
func (f *secretFlag) fromEnv(getenv func(string) string) {
	for _, name := range f.sources {
		if v := getenv(name); v != "" {
			*f.value, f.from = v, name
			return
		}
	}
}

func (f *secretFlag) String() string {
	switch {
	case f == nil || f.value == nil:
		return "" // the zero value the flag package compares defaults with
	case f.from != "":
		return "$" + f.from + ", set"
	case *f.value != "":
		return "(set)"
	case len(f.sources) > 0:
		return "$" + strings.Join(f.sources, " or $") + ", not set"
	}
	return ""
}

func (f *secretFlag) Set(v string) error {
	*f.value, f.from = v, ""
	return nil
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
	return client.New(c.server, c.key, client.WithUserAgent("auditkeep-cli/1"), client.WithHTTPClient(http.DefaultClient))
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
	var fe flagError
	if errors.As(err, &fe) {
		fmt.Fprintf(e.stderr, "auditkeep %s: %s; run 'auditkeep %s -h' for usage\n", name, fe.text(), name)
		return exitUsage
	}
	fmt.Fprintf(e.stderr, "auditkeep %s: %v\nRun 'auditkeep %s -h' for usage.\n", name, err, name)
	return exitUsage
}

// flagError is an error of the flag package, with the flag set it came from.
type flagError struct {
	error
	fs *flag.FlagSet
}

func (e flagError) Unwrap() error { return e.error }

// text is the error in one line: an unknown flag is named as it is
// written, with the defined flag closest to it.
func (e flagError) text() string {
	name, ok := strings.CutPrefix(e.Error(), "flag provided but not defined: -")
	if !ok {
		return e.Error()
	}
	s := "unknown flag " + flagName(name)
	if near := closestFlag(e.fs, name); near != "" {
		s += " (did you mean " + flagName(near) + "?)"
	}
	return s
}

// flagName writes a flag's name as the documentation does: -q, --limit.
func flagName(name string) string {
	if utf8.RuneCountInString(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// closestFlag returns the flag of fs nearest to name, or "" when none is
// near enough to be what was meant.
func closestFlag(fs *flag.FlagSet, name string) string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return search.Nearest(strings.ToLower(name), names)
}

// parse is parseArgs with the flag package's own messages held back: -h
// prints the usage, and any other flag error is returned as a flagError,
// which usageError reports in one line.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	restore := hush(fs)
	pos, err := parseArgs(fs, args)
	restore()
	return pos, flagFailure(fs, err)
}

// hush stops fs from printing its errors and usage until restore is called.
func hush(fs *flag.FlagSet) (restore func()) {
	out, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return func() {
		fs.SetOutput(out)
		fs.Usage = usage
	}
}

// flagFailure handles an error of fs.Parse (nil for none): for -h it prints
// the usage and returns flag.ErrHelp; other errors become a flagError.
func flagFailure(fs *flag.FlagSet, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return err
	}
	return flagError{err, fs}
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
	fmt.Fprintf(e.stderr, "auditkeep %s: %s\n", name, clean(err.Error()))
	printUnreachableHint(e.stderr, err)
	return exitNegative
}

// unreachable reports whether err says that no server answers at the
// address: the connection was refused, or the host name is unknown.
func unreachable(err error) bool {
	var dnsErr *net.DNSError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &dnsErr)
}

// printUnreachableHint tells where the CLI looks for the server when err
// says no server answers there.
func printUnreachableHint(w io.Writer, err error) {
	if unreachable(err) {
		fmt.Fprintln(w, "No server answers there: start one with 'auditkeep serve', or give its URL with --server or AUDITKEEP_SERVER (default "+defaultServer+").")
	}
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

// noArgs parses a command that takes flags only, and checks the client's.
func noArgs(fs *flag.FlagSet, cf *clientFlags, args []string) error {
	pos, err := parse(fs, args)
	if err == nil && len(pos) > 0 {
		err = fmt.Errorf("unexpected argument %q", pos[0])
	}
	if err == nil {
		err = cf.check()
	}
	return err
}

// printList prints a list command's answer: the items as JSON (none as
// []) with --json, else none on stderr when there are none, else a table
// of header and each item's row (tab-separated).
func printList[T any](e *env, cf *clientFlags, items []T, none, header string, row func(T) string) int {
	if cf.json {
		if items == nil {
			items = []T{}
		}
		return printJSON(e, items)
	}
	if len(items) == 0 {
		fmt.Fprintln(e.stderr, none)
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, it := range items {
		fmt.Fprintln(tw, row(it))
	}
	tw.Flush()
	return exitOK
}
