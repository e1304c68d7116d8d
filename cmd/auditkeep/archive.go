package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/archive"
)

const archiveUsage = `Usage:
  auditkeep archive list    --tenant T [--archive-url URL]
  auditkeep archive restore --tenant T --segment NAME (-o FILE | --into-tenant T2) [--archive-url URL]
  auditkeep archive verify  --tenant T --segment NAME --public-key KEY|FILE [--archive-url URL]

Expired events are archived as segments of one tenant and one day
(<tenant>/<yyyy>/<mm>/<dd>/<first-seq>-<last-seq>.ndjson.gz, gzip NDJSON, with a
manifest). A segment's NAME is <yyyy>-<mm>-<dd>_<first-seq>-<last-seq>, as
"archive list" shows it.

With --archive-url (file:///dir, s3://bucket, gs://bucket, azblob://container,
credentials from each cloud's usual environment) the archive is read directly,
with no server. Otherwise the server is asked (--server, --key: the root key or
an admin key of the tenant).

  list      the tenant's segments
  restore   -o FILE writes the segment (gzip NDJSON, as archived) to FILE;
            --into-tenant T2 copies its events into tenant T2 (created with
            unlimited retention if missing; root key), where they can be
            searched. Restoring into a separate tenant, such as
            acme-restore-2026-11, keeps the original log's seqs and ledger intact.
  verify    checks the segment against its manifest and the signed checkpoint
            it carries: every event's leaf hash, and that the leaves build the
            signed root (exit 1 when it does not)
`

func runArchive(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.stderr, archiveUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	sub := args[0]
	if sub != "list" && sub != "restore" && sub != "verify" {
		fmt.Fprintf(e.stderr, "auditkeep archive: unknown command %q\n\n%s", sub, archiveUsage)
		return exitUsage
	}
	name := "archive " + sub
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() { fmt.Fprint(e.stderr, archiveUsage, "\nFlags:\n"); fs.PrintDefaults() }
	cf := addClientFlags(fs, e, true)
	tenant := fs.String("tenant", "", "the tenant whose archive to read")
	archiveURL := fs.String("archive-url", e.getenv("AUDITKEEP_ARCHIVE_URL"), "read the archive directly at this URL (default $AUDITKEEP_ARCHIVE_URL); empty: ask the server")
	segment := fs.String("segment", "", "the segment's name, as archive list shows it")
	out := fs.String("o", "", "restore: write the segment to this file")
	into := fs.String("into-tenant", "", "restore: copy the events into this tenant")
	pubKey := fs.String("public-key", "", "verify: the checkpoint verifier key (name+hash+key), or a file holding it")
	pos, err := parse(fs, args[1:])
	if err == nil && len(pos) > 0 {
		err = fmt.Errorf("unexpected argument %q", pos[0])
	}
	if err == nil && !auditkeep.ValidTenantID(*tenant) {
		err = errors.New("--tenant is required: the tenant whose archive to read")
	}
	if err == nil && sub != "list" {
		if _, _, _, perr := archive.ParseName(*segment); perr != nil {
			err = fmt.Errorf("--segment: %s", auditkeep.ErrorMessage(perr))
		}
	}
	if err == nil && sub == "restore" && (*out == "") == (*into == "") {
		err = errors.New("restore needs -o FILE or --into-tenant TENANT (one of them)")
	}
	if err == nil && sub == "restore" && *into != "" && *archiveURL != "" {
		err = errors.New("--into-tenant needs the server: leave --archive-url out")
	}
	var vkey string
	if err == nil && sub == "verify" {
		if *pubKey == "" {
			err = errors.New("verify needs --public-key: the checkpoint verifier key the operator published")
		} else {
			vkey, err = readVerifierKey(*pubKey)
		}
	}
	if err == nil && *archiveURL == "" {
		err = cf.check()
	}
	if err != nil {
		return usageError(e, name, err)
	}

	var src segmentSource
	if *archiveURL != "" {
		a, err := archive.Open(ctx, *archiveURL, nil)
		if err != nil {
			fmt.Fprintf(e.stderr, "auditkeep %s: %s\n", name, auditkeep.ErrorMessage(err)+archiveDetail(err))
			return exitNegative
		}
		defer a.Close()
		src = localArchive{a}
	} else {
		src = &serverArchive{base: strings.TrimRight(cf.server, "/"), key: cf.key, hc: http.DefaultClient}
	}

	switch sub {
	case "list":
		ms, err := src.list(ctx, *tenant)
		if err != nil {
			return archiveFailed(e, name, err)
		}
		if cf.json {
			return printJSON(e, ms)
		}
		if len(ms) == 0 {
			fmt.Fprintf(e.stdout, "No archived segment for %s.\n", *tenant)
			return exitOK
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEGMENT\tDAY\tSEQS\tEVENTS\tBYTES\tARCHIVED AT")
		for _, m := range ms {
			fmt.Fprintf(tw, "%s\t%s\t%d-%d\t%d\t%d\t%s\n", m.Name, m.Day, m.FirstSeq, m.LastSeq, m.Count, m.Bytes, m.CreatedAt.UTC().Format(time.RFC3339))
		}
		tw.Flush()
		return exitOK

	case "restore":
		if *into != "" {
			res, err := src.(*serverArchive).restore(ctx, *tenant, *segment, *into)
			if err != nil {
				return archiveFailed(e, name, err)
			}
			if cf.json {
				return printJSON(e, res)
			}
			fmt.Fprintf(e.stdout, "Restored %d events of %s into tenant %s (%d already there).\n", res.Restored, *segment, *into, res.Duplicates)
			return exitOK
		}
		m, rc, err := src.segment(ctx, *tenant, *segment)
		if err != nil {
			return archiveFailed(e, name, err)
		}
		defer rc.Close()
		n, err := writeFile(*out, rc)
		if err != nil {
			return archiveFailed(e, name, err)
		}
		if n != m.Bytes {
			return archiveFailed(e, name, fmt.Errorf("wrote %d bytes; the manifest says %d", n, m.Bytes))
		}
		fmt.Fprintf(e.stdout, "Wrote %s (%d events, gzip NDJSON, SHA-256 %s) to %s.\n", m.Name, m.Count, m.SHA256, *out)
		return exitOK

	default: // verify
		m, rc, err := src.segment(ctx, *tenant, *segment)
		if err != nil {
			return archiveFailed(e, name, err)
		}
		defer rc.Close()
		v, err := archive.Verify(rc, m, vkey)
		if err != nil {
			return archiveFailed(e, name, err)
		}
		fmt.Fprintln(e.stdout, v.String())
		if !v.OK {
			return exitNegative
		}
		return exitOK
	}
}

func archiveDetail(err error) string {
	var ae *auditkeep.Error
	if errors.As(err, &ae) && ae.Err != nil {
		return ": " + ae.Err.Error()
	}
	return ""
}

func archiveFailed(e *env, name string, err error) int {
	msg := err.Error()
	var ae *auditkeep.Error
	if errors.As(err, &ae) {
		msg = ae.Message + archiveDetail(err)
	}
	fmt.Fprintf(e.stderr, "auditkeep %s: %s\n", name, msg)
	return exitNegative
}

// writeFile writes r to path ("-": standard output is not offered: a
// segment is binary) through a temporary file renamed at the end.
func writeFile(path string, r io.Reader) (int64, error) {
	tmp := path + ".part"
	f, err := os.Create(tmp)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return n, err
}

// segmentSource is an archive read directly or through a server.
type segmentSource interface {
	list(ctx context.Context, tenant string) ([]*archive.Manifest, error)
	// segment returns the manifest and the compressed segment; the caller
	// closes it.
	segment(ctx context.Context, tenant, name string) (*archive.Manifest, io.ReadCloser, error)
}

type localArchive struct{ a *archive.Archive }

func (l localArchive) list(ctx context.Context, tenant string) ([]*archive.Manifest, error) {
	ms, err := l.a.List(ctx, tenant)
	for _, m := range ms {
		m.Proof = nil
	}
	return ms, err
}

func (l localArchive) segment(ctx context.Context, tenant, name string) (*archive.Manifest, io.ReadCloser, error) {
	m, err := l.a.Manifest(ctx, tenant, name)
	if err != nil {
		return nil, nil, err
	}
	rc, err := l.a.OpenSegment(ctx, m)
	return m, rc, err
}

// serverArchive reads a tenant's archive through the server's API.
type serverArchive struct {
	base, key string
	hc        *http.Client
}

func (s *serverArchive) do(ctx context.Context, method, path string, body, out any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	req.Header.Set("User-Agent", "auditkeep-cli/1")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := s.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode >= 300 {
		defer res.Body.Close()
		var e struct {
			Error struct{ Code, Message string }
		}
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
			return res, fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, e.Error.Message)
		}
		return res, fmt.Errorf("%s %s: %s", method, path, res.Status)
	}
	if out == nil {
		return res, nil
	}
	defer res.Body.Close()
	return res, json.NewDecoder(res.Body).Decode(out)
}

func (s *serverArchive) list(ctx context.Context, tenant string) ([]*archive.Manifest, error) {
	var body struct{ Segments []*archive.Manifest }
	_, err := s.do(ctx, "GET", "/v1/tenants/"+url.PathEscape(tenant)+"/archive", nil, &body)
	return body.Segments, err
}

func (s *serverArchive) segment(ctx context.Context, tenant, name string) (*archive.Manifest, io.ReadCloser, error) {
	path := "/v1/tenants/" + url.PathEscape(tenant) + "/archive/" + url.PathEscape(name)
	var m archive.Manifest
	if _, err := s.do(ctx, "GET", path, nil, &m); err != nil {
		return nil, nil, err
	}
	res, err := s.do(ctx, "GET", path+"/data", nil, nil)
	if err != nil {
		return nil, nil, err
	}
	return &m, res.Body, nil
}

type restoreResult struct {
	Segment    string `json:"segment"`
	IntoTenant string `json:"into_tenant"`
	Events     int    `json:"events"`
	Restored   int    `json:"restored"`
	Duplicates int    `json:"duplicates"`
}

// restore creates the tenant into (unlimited retention) unless it exists,
// then asks the server to copy the segment's events into it.
func (s *serverArchive) restore(ctx context.Context, tenant, name, into string) (*restoreResult, error) {
	res, err := s.do(ctx, "POST", "/v1/tenants", map[string]any{"name": into, "retention_days": 0}, nil)
	if err != nil && (res == nil || res.StatusCode != http.StatusConflict) {
		return nil, fmt.Errorf("create tenant %s: %w", into, err)
	}
	if err == nil {
		res.Body.Close()
	}
	var out restoreResult
	_, err = s.do(ctx, "POST", "/v1/tenants/"+url.PathEscape(tenant)+"/archive/"+url.PathEscape(name)+"/restore",
		map[string]string{"into_tenant": into}, &out)
	return &out, err
}
