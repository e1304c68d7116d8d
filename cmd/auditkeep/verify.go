package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/archive"
	"github.com/auditkeep/auditkeep/internal/ledger"
)

const verifySynopsis = `verify [--server URL --key KEY] [--public-key KEY|FILE] [--state FILE] [--sample N]
       auditkeep verify --bundle FILE --public-key KEY|FILE

Checks that the tenant's log is the one the server signed.

Live (the default): fetches the latest signed checkpoint, checks its
signature, checks that it extends the checkpoint remembered from the last
run (a log rolled back or forked fails), then recomputes the leaf hash of
every event the server returns and checks it against the signed tree (or,
with --sample N, checks N random events with inclusion proofs). The
checkpoint and the key are remembered in the state file, by default
~/.config/auditkeep/verify-<server>-<tenant>.json. Without --public-key the
key remembered there is used, or at first the server's own (trust on first
use, with a warning): give the key the operator published instead. KEY is
the verifier key (name+hash+key) or GET /v1/ledger/key's JSON answer, as a
value or a file; 'auditkeep ledger key -o key.pub' saves the server's.

Offline: --bundle checks a file written by 'auditkeep export --with-proofs'
against --public-key, with no server. It also takes an archived segment
(<first>-<last>.ndjson.gz, its .manifest.json beside it), checked against the
signed checkpoint its manifest carries.

Events that retention removed are accepted as missing when the log's own
signed retention.purge events list their seqs; the OK line reports them
("seqs 1-500 purged by retention (recorded at seq 812)"), and the purged
events themselves are checked in the archive with 'auditkeep archive
verify'. --sample does not account for purged events: a sampled seq that
retention removed fails; run without --sample on such a tenant.

Prints "OK: tree size N, root <hex>" and exits 0, or names the first seq
altered, removed (missing, and no retention.purge event lists it),
inserted or reordered and exits 1. When the server's stored tree does not
build its own signed root, it proves nothing about any one event: verify
then recomputes the events' leaf hashes and bounds the altered seqs with the
signed checkpoints of earlier sizes ("an event in seqs 6–10 was altered:
the checkpoint of size 10 does not match the events served, that of size 5
does"), or says the stored tree is damaged and not the events. --sample
names an event only when its inclusion proof proves it altered; a proof
that fails otherwise is reported as an inconsistent tree. Needs a key with
the export scope (the read scope is enough with --sample).`

// verifyState is what verify remembers between runs of one server and
// tenant.
type verifyState struct {
	Server      string    `json:"server"`
	Origin      string    `json:"origin"`
	VerifierKey string    `json:"verifier_key"`
	Checkpoint  string    `json:"checkpoint"` // the signed note last verified
	VerifiedAt  time.Time `json:"verified_at"`
}

// runVerify checks a live server's log, or a bundle offline.
func runVerify(ctx context.Context, e *env, args []string) int {
	const name = "verify"
	fs := newFlagSet(e, name, verifySynopsis)
	cf := addClientFlags(fs, e, false)
	pubKey := fs.String("public-key", "", "the checkpoint verifier key (name+hash+key, or GET /v1/ledger/key's JSON), or a file holding it (from 'auditkeep ledger key -o key.pub')")
	statePath := fs.String("state", "", "state file (default ~/.config/auditkeep/verify-<server>-<tenant>.json)")
	sample := fs.Int("sample", 0, "check N random events with inclusion proofs instead of every event")
	bundle := fs.String("bundle", "", "verify this bundle file offline (from 'auditkeep export --with-proofs')")
	pos, err := parse(fs, args)
	if err != nil {
		return usageError(e, name, err)
	}
	switch {
	case len(pos) > 0:
		err = fmt.Errorf("unexpected argument %q", pos[0])
	case *sample < 0:
		err = errors.New("--sample must not be negative")
	case *bundle != "" && *pubKey == "":
		err = errors.New("--bundle needs --public-key: the key the operator published")
	case *bundle != "" && *sample > 0:
		err = errors.New("--sample is for live verification, not --bundle")
	case *bundle == "":
		err = cf.check()
	}
	if err != nil {
		return usageError(e, name, err)
	}
	var vkey string
	if *pubKey != "" {
		if vkey, err = readVerifierKey(*pubKey); err != nil {
			return usageError(e, name, err)
		}
	}
	if *bundle != "" {
		return verifyBundleFile(e, *bundle, vkey)
	}
	v := &verifier{e: e, server: strings.TrimRight(cf.server, "/"), key: cf.key, vkey: vkey, statePath: *statePath, sample: *sample,
		hc: http.DefaultClient}
	return v.run(ctx)
}

// readVerifierKey returns the verifier key given as text or as a file
// holding it, either bare (name+hash+key) or exactly as GET /v1/ledger/key
// answers ({"key": "name+hash+key"}).
func readVerifierKey(s string) (string, error) {
	if k, ok := parseVerifierKey(s); ok {
		return k, nil
	}
	b, err := os.ReadFile(s)
	if err != nil {
		return "", fmt.Errorf("--public-key %q is neither a verifier key (name+hash+key, or GET /v1/ledger/key's JSON) nor a readable file", s)
	}
	k, ok := parseVerifierKey(string(b))
	if !ok {
		return "", fmt.Errorf("--public-key: %s holds neither a verifier key (name+hash+key) nor GET /v1/ledger/key's JSON", s)
	}
	return k, nil
}

// parseVerifierKey reads a verifier key, bare or as GET /v1/ledger/key's
// JSON answer, with surrounding white space.
func parseVerifierKey(text string) (string, bool) {
	text = strings.TrimSpace(text)
	if strings.HasPrefix(text, "{") {
		var body struct {
			Key string `json:"key"`
		}
		if json.Unmarshal([]byte(text), &body) != nil {
			return "", false
		}
		text = strings.TrimSpace(body.Key)
	}
	if _, err := ledger.NewVerifier(text); err != nil {
		return "", false
	}
	return text, true
}

func verifyBundleFile(e *env, path, vkey string) int {
	if base, ok := strings.CutSuffix(path, ".ndjson.gz"); ok {
		return verifySegmentFile(e, path, base+".manifest.json", vkey)
	}
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(e.stderr, "auditkeep verify: %v\n", err)
		return exitNegative
	}
	defer f.Close()
	v, err := ledger.VerifyBundle(bufio.NewReaderSize(f, 1<<20), vkey)
	if err != nil {
		fmt.Fprintf(e.stdout, "FAILED: %s\n", clean(err.Error()))
		return exitNegative
	}
	return report(e, v)
}

// verifySegmentFile checks an archived segment (the retention archive's
// <first>-<last>.ndjson.gz, with its .manifest.json beside it) against the
// signed checkpoint its manifest carries, as 'auditkeep archive verify' does.
func verifySegmentFile(e *env, path, manifestPath, vkey string) int {
	b, err := os.ReadFile(manifestPath)
	if err != nil {
		fmt.Fprintf(e.stderr, "auditkeep verify: a segment is checked with its manifest: %v\n", err)
		return exitNegative
	}
	var m archive.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		fmt.Fprintf(e.stderr, "auditkeep verify: %s: %v\n", manifestPath, err)
		return exitNegative
	}
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(e.stderr, "auditkeep verify: %v\n", err)
		return exitNegative
	}
	defer f.Close()
	v, err := archive.Verify(f, &m, vkey)
	if err != nil {
		fmt.Fprintf(e.stdout, "FAILED: %s\n", clean(err.Error()))
		return exitNegative
	}
	fmt.Fprintln(e.stdout, clean(v.String()))
	if !v.OK {
		return exitNegative
	}
	return exitOK
}

// report prints the verdict and returns the exit status. An OK verdict
// with purged seqs says so on its line, then points to the archive, where
// the purged events are checked.
func report(e *env, v ledger.Verdict) int {
	if v.OK {
		fmt.Fprintf(e.stdout, "OK: tree size %d, root %x", v.Size, v.Root)
		if p := v.PurgedText(); p != "" {
			fmt.Fprintf(e.stdout, "; %s", p)
		}
		fmt.Fprintln(e.stdout)
		if len(v.Purged) > 0 {
			tenant := strings.TrimPrefix(v.Origin, ledger.DefaultOriginPrefix)
			fmt.Fprintf(e.stdout, "note: purged events are in the retention archive: list its segments with 'auditkeep archive list --tenant %s' and check one with 'auditkeep archive verify --tenant %s --segment NAME --public-key KEY'\n",
				clean(tenant), clean(tenant))
		}
		for _, w := range v.Warnings {
			fmt.Fprintf(e.stdout, "warning: %s\n", clean(w))
		}
		return exitOK
	}
	for _, w := range v.Warnings {
		fmt.Fprintf(e.stdout, "warning: %s\n", clean(w))
	}
	fmt.Fprintf(e.stdout, "FAILED: %s: %s\n", v.Where(), clean(v.Detail))
	return exitNegative
}

// verifier checks a live server.
type verifier struct {
	e         *env
	server    string
	key       string
	vkey      string // from --public-key; "" until known
	statePath string
	sample    int
	hc        *http.Client
}

func (v *verifier) fail(err error) int {
	fmt.Fprintf(v.e.stderr, "auditkeep verify: %s\n", clean(err.Error()))
	printUnreachableHint(v.e.stderr, err)
	return exitNegative
}

func (v *verifier) run(ctx context.Context) int {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// The checkpoint: the first line of the bundle (full check), or the
	// latest one (sample).
	var note []byte
	var rest *bufio.Reader
	if v.sample == 0 {
		body, err := v.get(ctx, "/v1/export", url.Values{"format": {"bundle"}})
		var se *statusError
		if errors.As(err, &se) && se.status == http.StatusForbidden {
			v.fail(err)
			fmt.Fprintln(v.e.stderr, "hint: a full verification reads the whole log, which needs a key with the export scope; with a read key, check random events with inclusion proofs instead: auditkeep verify --sample 200")
			return exitNegative
		}
		if err != nil {
			return v.fail(err)
		}
		defer body.Close()
		rest = bufio.NewReaderSize(body, 1<<20)
		line, err := rest.ReadBytes('\n')
		if err != nil {
			return v.fail(fmt.Errorf("bundle: %w", err))
		}
		var first struct {
			Type       string `json:"type"`
			Checkpoint string `json:"checkpoint"`
		}
		if err := json.Unmarshal(line, &first); err != nil || first.Type != "checkpoint" {
			return v.fail(errors.New("the server's bundle does not start with a checkpoint"))
		}
		note = []byte(first.Checkpoint)
		rest = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(line), rest), 1<<20)
	} else {
		var cp struct {
			Checkpoint string `json:"checkpoint"`
		}
		if err := v.getJSON(ctx, "/v1/checkpoint", nil, &cp); err != nil {
			return v.fail(err)
		}
		note = []byte(cp.Checkpoint)
	}
	unverified, err := ledger.ParseCheckpoint(note)
	if err != nil {
		return v.fail(fmt.Errorf("the server's checkpoint: %w", err))
	}

	// The key and the state remembered for this server and log.
	if v.statePath == "" {
		if v.statePath, err = defaultStatePath(v.e, v.server, strings.TrimPrefix(unverified.Origin, ledger.DefaultOriginPrefix)); err != nil {
			return v.fail(err)
		}
	}
	st, err := loadVerifyState(v.statePath)
	if err != nil {
		return v.fail(err)
	}
	switch {
	case v.vkey != "":
		if st != nil && st.VerifierKey != "" && st.VerifierKey != v.vkey {
			fmt.Fprintf(v.e.stderr, "auditkeep verify: warning: --public-key differs from the key remembered in %s\n", v.statePath)
		}
	case st != nil && st.VerifierKey != "":
		v.vkey = st.VerifierKey
	default:
		if v.vkey, err = v.serverKey(ctx); err != nil {
			return v.fail(err)
		}
		fmt.Fprintf(v.e.stderr, "auditkeep verify: warning: no --public-key; trusting the server's key %s on first use (remembered in %s). Compare it with the key the operator published.\n", clean(v.vkey), v.statePath)
	}

	latest, err := ledger.VerifyCheckpoint(note, v.vkey)
	if err != nil {
		fmt.Fprintf(v.e.stdout, "FAILED: the server's checkpoint of size %d is not signed by key %s\n", unverified.Size, clean(v.vkey))
		return exitNegative
	}
	var trusted *ledger.Checkpoint
	if st != nil && st.Checkpoint != "" {
		if trusted, err = ledger.VerifyCheckpoint([]byte(st.Checkpoint), v.vkey); err != nil {
			return v.fail(fmt.Errorf("the checkpoint remembered in %s: %w", v.statePath, err))
		}
	}
	// A full check proves the latest checkpoint extends the remembered one
	// with the leaves it reads; a sample asks the server for a proof.
	if trusted != nil && v.sample > 0 {
		var proof [][]byte
		if latest.Size > trusted.Size && trusted.Size > 0 {
			if proof, err = v.consistency(ctx, trusted.Size, latest.Size); err != nil {
				return v.fail(err)
			}
		}
		if verdict := ledger.CompareCheckpoints(trusted, latest, proof); !verdict.OK {
			if verdict.Problem == ledger.ProblemFork && trusted.Origin == latest.Origin {
				verdict.Detail += ", or the server's stored tree is damaged and its proof with it (a full verification tells which)"
			}
			verdict.Detail += fmt.Sprintf(" (remembered in %s)", v.statePath)
			return report(v.e, verdict)
		}
	}

	var verdict ledger.Verdict
	if v.sample == 0 {
		check := &ledger.BundleCheck{VerifierKey: v.vkey, Trusted: trusted, History: &serverHistory{v: v}}
		if verdict, err = check.Verify(ctx, rest); err != nil {
			return v.fail(err)
		}
		if verdict.Size != latest.Size || !bytes.Equal(verdict.Root, latest.Root) {
			return v.fail(errors.New("the bundle changed checkpoint while it was read"))
		}
		if verdict.Problem == ledger.ProblemFork || verdict.Problem == ledger.ProblemRollback {
			verdict.Detail += fmt.Sprintf(" (remembered in %s)", v.statePath)
		}
	} else if verdict, err = v.checkSample(ctx, latest); err != nil {
		return v.fail(err)
	}
	if !verdict.OK {
		return report(v.e, verdict)
	}
	// Remember the checkpoint only once everything checked out.
	if err := saveVerifyState(v.statePath, &verifyState{Server: v.server, Origin: latest.Origin, VerifierKey: v.vkey,
		Checkpoint: string(latest.Note), VerifiedAt: time.Now().UTC()}); err != nil {
		return v.fail(err)
	}
	return report(v.e, verdict)
}

// serverKey fetches the verifier key the server publishes
// (GET /v1/ledger/key).
func (v *verifier) serverKey(ctx context.Context) (string, error) {
	var k struct {
		Key string `json:"key"`
	}
	if err := v.getJSON(ctx, "/v1/ledger/key", nil, &k); err != nil {
		return "", err
	}
	if _, err := ledger.NewVerifier(k.Key); err != nil {
		return "", fmt.Errorf("the server's verifier key: %w", err)
	}
	return k.Key, nil
}

// consistency fetches and decodes the proof from first to second.
func (v *verifier) consistency(ctx context.Context, first, second uint64) ([][]byte, error) {
	var body struct {
		Proof []string `json:"proof"`
	}
	q := url.Values{"first": {strconv.FormatUint(first, 10)}, "second": {strconv.FormatUint(second, 10)}}
	if err := v.getJSON(ctx, "/v1/consistency", q, &body); err != nil {
		return nil, err
	}
	return unhex(body.Proof)
}

// serverHistory is the server's checkpoint history (GET /v1/checkpoints,
// GET /v1/checkpoint?size=N, GET /v1/consistency), as ledger.BundleCheck
// reads it.
type serverHistory struct{ v *verifier }

// CheckpointSizes implements ledger.History; none from a server that does
// not list its checkpoints.
func (h *serverHistory) CheckpointSizes(ctx context.Context) ([]uint64, error) {
	var sizes []uint64
	for after := uint64(0); ; {
		var page struct {
			Sizes     []uint64 `json:"sizes"`
			NextAfter uint64   `json:"next_after"`
		}
		q := url.Values{"after": {strconv.FormatUint(after, 10)}, "limit": {"10000"}}
		err := h.v.getJSON(ctx, "/v1/checkpoints", q, &page)
		if se := (*statusError)(nil); errors.As(err, &se) && se.status == http.StatusNotFound {
			return sizes, nil
		}
		if err != nil {
			return nil, err
		}
		sizes = append(sizes, page.Sizes...)
		if page.NextAfter <= after || len(page.Sizes) == 0 {
			return sizes, nil
		}
		after = page.NextAfter
	}
}

// Checkpoint implements ledger.History.
func (h *serverHistory) Checkpoint(ctx context.Context, size uint64) ([]byte, error) {
	var cp struct {
		Checkpoint string `json:"checkpoint"`
	}
	if err := h.v.getJSON(ctx, "/v1/checkpoint", url.Values{"size": {strconv.FormatUint(size, 10)}}, &cp); err != nil {
		return nil, err
	}
	return []byte(cp.Checkpoint), nil
}

// ConsistencyProof implements ledger.History.
func (h *serverHistory) ConsistencyProof(ctx context.Context, first, second uint64) ([][]byte, error) {
	return h.v.consistency(ctx, first, second)
}

// checkSample checks v.sample random events (every one when the log is
// smaller) with inclusion proofs in the tree of cp, in seq order, and
// names the first that fails.
func (v *verifier) checkSample(ctx context.Context, cp *ledger.Checkpoint) (ledger.Verdict, error) {
	verdict := ledger.Verdict{Origin: cp.Origin, Size: cp.Size, Root: cp.Root}
	var seqs []int64
	if uint64(v.sample) >= cp.Size {
		for s := int64(1); s <= int64(cp.Size); s++ {
			seqs = append(seqs, s)
		}
	} else {
		picked := map[int64]bool{}
		for len(picked) < v.sample {
			picked[1+rand.Int64N(int64(cp.Size))] = true
		}
		for s := range picked {
			seqs = append(seqs, s)
		}
		slices.Sort(seqs)
	}
	bad := func(seq int64, problem, detail string) ledger.Verdict {
		verdict.FirstBadSeq, verdict.Problem, verdict.Detail = seq, problem, detail
		return verdict
	}
	for _, seq := range seqs {
		q := url.Values{"sort": {auditkeep.SortSeq}, "order": {"asc"}, "limit": {"1"},
			"cursor": {auditkeep.Cursor{Seq: seq - 1, Order: auditkeep.OrderAsc}.Encode()}}
		var page struct {
			Events []*auditkeep.Event `json:"events"`
		}
		if err := v.getJSON(ctx, "/v1/events", q, &page); err != nil {
			return verdict, err
		}
		if len(page.Events) == 0 || page.Events[0].Seq != seq {
			return bad(seq, ledger.ProblemRemoved, fmt.Sprintf("the server has no event of seq %d, which the log signed (if retention removed it, verify without --sample, which reads the log's retention.purge events)", seq)), nil
		}
		e := page.Events[0]
		var p struct {
			Seq      int64    `json:"seq"`
			LeafHash string   `json:"leaf_hash"`
			Proof    []string `json:"proof"`
		}
		pq := url.Values{"tree_size": {strconv.FormatUint(cp.Size, 10)}}
		if err := v.getJSON(ctx, "/v1/events/"+url.PathEscape(e.ID)+"/proof", pq, &p); err != nil {
			return verdict, err
		}
		proof, err := unhex(p.Proof)
		if err != nil {
			return verdict, err
		}
		leaf, err := ledger.LeafHash(e)
		if serr := ledger.CheckServed(e); err == nil && serr != nil {
			return bad(seq, ledger.ProblemAltered, fmt.Sprintf("event %q at seq %d is not the event the log signed there: its text says other than its leaf (%s)", e.ID, seq, auditkeep.ErrorMessage(serr))), nil
		}
		if err == nil && ledger.VerifyInclusion(leaf, seq, cp.Size, proof, cp.Root) == nil {
			verdict.Events++
			continue
		}
		// The event is proved altered only when the proof holds for the
		// stored leaf hash, which the event does not hash to. A proof that
		// holds for neither shows the stored tree inconsistent, and says
		// nothing of this event: its proof path may cross an altered one.
		stored, herr := hex.DecodeString(p.LeafHash)
		if herr == nil && !bytes.Equal(stored, leaf) && ledger.VerifyInclusion(stored, seq, cp.Size, proof, cp.Root) == nil {
			return bad(seq, ledger.ProblemAltered, fmt.Sprintf("event %q at seq %d is not the event the log signed there: the signed leaf hash, which its inclusion proof proves, is not the event's", e.ID, seq)), nil
		}
		verdict.Problem = ledger.ProblemTree
		verdict.Detail = fmt.Sprintf("an inclusion proof the server serves does not lead to the signed root of size %d: its stored tree is inconsistent, so it proves no event altered or intact; a full verification (export scope) bounds the altered seqs with the signed checkpoints", cp.Size)
		return verdict, nil
	}
	verdict.OK = true
	return verdict, nil
}

func unhex(ss []string) ([][]byte, error) {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != ledger.HashSize {
			return nil, fmt.Errorf("proof hash %q is not %d bytes of hex", s, ledger.HashSize)
		}
		out[i] = b
	}
	return out, nil
}

// get sends an authenticated GET and returns the body of a 2xx answer.
func (v *verifier) get(ctx context.Context, path string, q url.Values) (io.ReadCloser, error) {
	u := v.server + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if v.key != "" {
		req.Header.Set("Authorization", "Bearer "+v.key)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "auditkeep-cli/1")
	resp, err := v.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return resp.Body, nil
	}
	defer resp.Body.Close()
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg := strings.ToLower(http.StatusText(resp.StatusCode))
	if json.Unmarshal(b, &body) == nil && body.Error.Message != "" {
		msg = body.Error.Message
	}
	return nil, &statusError{path: path, status: resp.StatusCode, msg: msg}
}

// statusError is a server's answer other than 2xx.
type statusError struct {
	path   string
	status int
	msg    string
}

func (e *statusError) Error() string { return fmt.Sprintf("GET %s: %s [%d]", e.path, e.msg, e.status) }

func (v *verifier) getJSON(ctx context.Context, path string, q url.Values, out any) error {
	body, err := v.get(ctx, path, q)
	if err != nil {
		return err
	}
	defer body.Close()
	if err := json.NewDecoder(body).Decode(out); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// defaultStatePath is ~/.config/auditkeep/verify-<server>-<tenant>.json
// ($XDG_CONFIG_HOME when set). It is an error when neither $XDG_CONFIG_HOME
// nor $HOME names an absolute directory: a relative path would put the state
// wherever the command happens to run.
func defaultStatePath(e *env, server, tenant string) (string, error) {
	dir := e.getenv("XDG_CONFIG_HOME")
	if !filepath.IsAbs(dir) {
		dir = ""
		if home := e.getenv("HOME"); filepath.IsAbs(home) {
			dir = filepath.Join(home, ".config")
		}
	}
	if dir == "" {
		return "", errors.New("no place for the state file: neither $XDG_CONFIG_HOME nor $HOME is an absolute directory; give --state FILE")
	}
	host := server
	if u, err := url.Parse(server); err == nil && u.Host != "" {
		host = u.Host
	}
	return filepath.Join(dir, "auditkeep", "verify-"+unsafeName.ReplaceAllString(host, "_")+"-"+unsafeName.ReplaceAllString(tenant, "_")+".json"), nil
}

// loadVerifyState reads the state file; nil when there is none yet.
func loadVerifyState(path string) (*verifyState, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	var st verifyState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	return &st, nil
}

// saveVerifyState writes the state file atomically, readable by its owner only.
func saveVerifyState(path string, st *verifyState) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err = tmp.Write(append(b, '\n')); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}
