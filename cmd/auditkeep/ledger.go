package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/httpapi"
	"github.com/auditkeep/auditkeep/internal/ingest"
	"github.com/auditkeep/auditkeep/internal/ledger"
	"github.com/auditkeep/auditkeep/internal/postgres"
	"github.com/auditkeep/auditkeep/internal/sqlite"
	"github.com/prometheus/client_golang/prometheus"
)

// ledgerKeyFile is the signer key's file in the data directory.
const ledgerKeyFile = "ledger.key"

// ledgerKeySetting is the server setting holding the signer key that the
// nodes of one PostgreSQL database share, when none is configured.
const ledgerKeySetting = "ledger_signer_key"

// ledgerCoalesce is how long commits are gathered before the integrator
// integrates them (ledger.IntegratorConfig.Coalesce).
const ledgerCoalesce = 100 * time.Millisecond

// ledgerNode is the server's part of the tamper-evident ledger: the
// integrator that turns committed events into signed tree heads, and its
// metrics.
type ledgerNode struct {
	integrator *ledger.Integrator
	metrics    []prometheus.Collector
}

// openLedger loads (or creates) the checkpoint signer key and prepares the
// integrator; startLedger starts it. It returns nil when the ledger is off.
func (a *app) openLedger(ctx context.Context) (*httpapi.Ledger, error) {
	if !a.cfg.Ledger {
		return nil, nil
	}
	var storage interface {
		ledger.Storage
		ledger.Events
	}
	switch s := a.store.(type) {
	case *sqlite.Store:
		storage = sqlite.NewLedger(s)
	case *postgres.Store:
		storage = postgres.NewLedger(s)
	default:
		return nil, fmt.Errorf("ledger: the %T store keeps no ledger", a.store)
	}
	skey, err := a.ledgerSignerKey(ctx)
	if err != nil {
		return nil, err
	}
	signer, err := ledger.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("ledger key: %w", err)
	}
	vkey, err := verifierKeyOf(skey)
	if err != nil {
		return nil, fmt.Errorf("ledger key: %w", err)
	}
	verifier, err := ledger.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("ledger key: %w", err)
	}
	lag := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "auditkeep_ledger_lag_seconds",
		Help:    "Time from an event's acknowledgement to its inclusion in a signed checkpoint (worst event of each integration step).",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	})
	leaves := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "auditkeep_ledger_leaves_total",
		Help: "Events integrated into the tenants' Merkle trees by this node, by where they were read: memory (committed by this node and hashed as handed over) or store (read back).",
	}, []string{"source"})
	in := ledger.NewIntegrator(ledger.IntegratorConfig{
		Storage: storage, Events: storage, Signer: signer, Verifier: verifier,
		Interval: a.cfg.LedgerInterval, Coalesce: ledgerCoalesce, Logger: a.log,
		Observe: func(s ledger.Step) {
			lag.Observe(s.Lag.Seconds())
			leaves.WithLabelValues("memory").Add(float64(s.Buffered))
			leaves.WithLabelValues("store").Add(float64(int(s.NewSize-s.OldSize) - s.Buffered))
		},
	})
	errs := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "auditkeep_ledger_errors_total", Help: "Failed integration attempts (gaps included) on this node.",
	}, func() float64 { return float64(in.Stats().Errors) })
	a.ledger = &ledgerNode{integrator: in, metrics: []prometheus.Collector{lag, leaves, errs}}
	a.log.Info("ledger: checkpoints are signed", "verifier_key", vkey)
	// Bundles read the store itself, not the API's retention-guarded view.
	return &httpapi.Ledger{Storage: storage, VerifierKey: vkey, Events: storage, Held: in.Held, Rebuild: in.Rebuild}, nil
}

// startLedger registers the ledger's metrics with the API's and starts the
// integrator, which first catches up every tenant.
func (a *app) startLedger() error {
	if a.ledger == nil {
		return nil
	}
	for _, c := range a.ledger.metrics {
		if err := a.api.Registry.Register(c); err != nil {
			return fmt.Errorf("ledger metrics: %w", err)
		}
	}
	return a.ledger.integrator.Open()
}

// stopLedger stops the integrator, letting its step in progress finish.
func (a *app) stopLedger() {
	if a.ledger != nil {
		a.ledger.integrator.Close()
	}
}

// notifyLedger wraps the committer's hook: after next, the integrator
// is handed the stored events (it hashes them from memory rather than
// reading them back) and learns which tenants have new events.
func (a *app) notifyLedger(next func([]*auditkeep.Event, ingest.CommitStats)) func([]*auditkeep.Event, ingest.CommitStats) {
	if a.ledger == nil {
		return next
	}
	return func(stored []*auditkeep.Event, st ingest.CommitStats) {
		next(stored, st)
		a.ledger.integrator.Committed(stored)
		last := ""
		for _, e := range stored {
			if e.Tenant != last {
				a.ledger.integrator.Notify(e.Tenant)
				last = e.Tenant
			}
		}
	}
}

// ledgerSignerKey returns the checkpoint signer key: AUDITKEEP_LEDGER_KEY,
// else the file --ledger-key-file, else for PostgreSQL the one key all nodes
// share in the database's settings (generated by the first node), else
// <data>/ledger.key (created, mode 0600, at first start).
func (a *app) ledgerSignerKey(ctx context.Context) (string, error) {
	if a.cfg.LedgerKey != "" {
		return a.cfg.LedgerKey, nil
	}
	if a.cfg.LedgerKeyFile != "" {
		b, err := os.ReadFile(a.cfg.LedgerKeyFile)
		if err != nil {
			return "", fmt.Errorf("ledger-key-file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	if a.cfg.DatabaseURL != "" {
		skey, _, err := ledger.GenerateKey("auditkeep")
		if err != nil {
			return "", err
		}
		stored, err := a.store.InitSetting(ctx, "", ledgerKeySetting, []byte(skey))
		if err != nil {
			return "", fmt.Errorf("ledger key: %w", err)
		}
		return string(stored), nil
	}
	path := filepath.Join(a.cfg.DataDir, ledgerKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("ledger key: %w", err)
	}
	skey, _, err := ledger.GenerateKey("auditkeep")
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("ledger key: %w", err)
	}
	_, err = f.WriteString(skey + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", fmt.Errorf("ledger key: %w", err)
	}
	a.log.Info("ledger: generated the checkpoint signer key", "file", path)
	return skey, nil
}

// verifierKeyOf derives the note verifier key ("name+hash+key") from a note
// signer key ("PRIVATE+KEY+name+hash+key") of an Ed25519 key.
func verifierKeyOf(skey string) (string, error) {
	rest, ok := strings.CutPrefix(skey, "PRIVATE+KEY+")
	parts := strings.SplitN(rest, "+", 3) // name, hash, key (base64 may hold '+')
	if !ok || len(parts) != 3 {
		return "", errors.New("not a note signer key (PRIVATE+KEY+name+hash+key)")
	}
	b, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(b) != 1+ed25519.SeedSize || b[0] != 1 {
		return "", errors.New("not an Ed25519 note signer key")
	}
	pub := ed25519.NewKeyFromSeed(b[1:]).Public().(ed25519.PublicKey)
	vkey := parts[0] + "+" + parts[1] + "+" + base64.StdEncoding.EncodeToString(append([]byte{1}, pub...))
	if _, err := ledger.NewVerifier(vkey); err != nil {
		return "", err
	}
	return vkey, nil
}
