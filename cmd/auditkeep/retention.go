package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"path/filepath"
	"strconv"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/archive"
	"github.com/auditkeep/auditkeep/internal/httpapi"
	"github.com/auditkeep/auditkeep/internal/ingest"
	"github.com/auditkeep/auditkeep/internal/postgres"
	rtn "github.com/auditkeep/auditkeep/internal/retention"
)

// RetentionConfig is the retention part of the server's configuration.
type RetentionConfig struct {
	Enabled    bool          // --retention, AUDITKEEP_RETENTION: run the purge job on this node
	ArchiveURL string        // --archive-url, AUDITKEEP_ARCHIVE_URL: where expired events go
	Plans      string        // --plans, AUDITKEEP_PLANS: "name=days,..."
	Interval   time.Duration // --retention-interval, AUDITKEEP_RETENTION_INTERVAL
	Batch      int           // --retention-batch, AUDITKEEP_RETENTION_BATCH
}

// defaultRetention returns the retention settings used when nothing is set.
func defaultRetention() RetentionConfig {
	return RetentionConfig{Enabled: true, Plans: rtn.DefaultPlans().String(), Interval: time.Hour, Batch: 5000}
}

func (c *RetentionConfig) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.Enabled, "retention", c.Enabled, "run the retention job on this node (AUDITKEEP_RETENTION)")
	fs.StringVar(&c.ArchiveURL, "archive-url", c.ArchiveURL, "where expired events are archived: file:///dir, s3://, gs://, azblob:// (AUDITKEEP_ARCHIVE_URL; default <data>/archive)")
	fs.StringVar(&c.Plans, "plans", c.Plans, "retention plans, name=days,... (AUDITKEEP_PLANS)")
	fs.DurationVar(&c.Interval, "retention-interval", c.Interval, "how often the retention job runs (AUDITKEEP_RETENTION_INTERVAL)")
	fs.IntVar(&c.Batch, "retention-batch", c.Batch, "events archived and removed per transaction (AUDITKEEP_RETENTION_BATCH)")
}

func (c *RetentionConfig) fromEnv(getenv func(string) string) error {
	if v := getenv("AUDITKEEP_RETENTION"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("AUDITKEEP_RETENTION: %q is not true or false", v)
		}
		c.Enabled = b
	}
	if v := getenv("AUDITKEEP_ARCHIVE_URL"); v != "" {
		c.ArchiveURL = v
	}
	if v := getenv("AUDITKEEP_PLANS"); v != "" {
		c.Plans = v
	}
	if v := getenv("AUDITKEEP_RETENTION_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("AUDITKEEP_RETENTION_INTERVAL: %q is not a duration such as 1h", v)
		}
		c.Interval = d
	}
	if v := getenv("AUDITKEEP_RETENTION_BATCH"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("AUDITKEEP_RETENTION_BATCH: %q is not a whole number", v)
		}
		c.Batch = n
	}
	return nil
}

// validate checks the settings; its errors name the setting.
func (c *RetentionConfig) validate() error {
	if _, err := rtn.ParsePlans(c.Plans); err != nil {
		return fmt.Errorf("plans (AUDITKEEP_PLANS): %v", auditkeep.ErrorMessage(err))
	}
	if c.Interval < time.Second {
		return fmt.Errorf("retention-interval (AUDITKEEP_RETENTION_INTERVAL): must be at least 1s")
	}
	if c.Batch < 1 || c.Batch > 100000 {
		return fmt.Errorf("retention-batch (AUDITKEEP_RETENTION_BATCH): must be from 1 to 100000")
	}
	return nil
}

// openRetention opens the archive and makes the retention service over
// the app's store, with the ledger's tree when there is one.
func (a *app) openRetention(ctx context.Context, tree *httpapi.Ledger, svc *ingest.Service, reg prometheus.Registerer) (*rtn.Service, error) {
	plans, err := rtn.ParsePlans(a.cfg.Retention.Plans)
	if err != nil {
		return nil, fmt.Errorf("plans: %w", err)
	}
	u := a.cfg.Retention.ArchiveURL
	if u == "" {
		if u, err = archive.DirURL(filepath.Join(a.cfg.DataDir, "archive")); err != nil {
			return nil, fmt.Errorf("archive: %w", err)
		}
	}
	arch, err := archive.Open(ctx, u, a.log)
	if err != nil {
		return nil, fmt.Errorf("archive-url: %w", err)
	}
	cfg := rtn.Config{
		Store: a.store, Archive: arch, Plans: plans, Logger: a.log, Registry: reg,
		Interval: a.cfg.Retention.Interval, BatchSize: a.cfg.Retention.Batch,
		Recorder: func(ctx context.Context, tenant string, body []byte) error {
			_, err := svc.Ingest(auditkeep.AsServer(ctx), tenant, body)
			return err
		},
		Appender: func(ctx context.Context, events []*auditkeep.Event) error {
			_, err := svc.Store(ctx, events)
			return err
		},
	}
	if pg, ok := a.store.(*postgres.Store); ok {
		// Several nodes may share it: its locks keep them from purging one
		// tenant at once. Its events are in monthly partitions.
		cfg.Locker, cfg.Partitions = pg, pg
	}
	if tree != nil {
		cfg.Tree = tree.Storage
	}
	if a.streams != nil {
		cfg.Streams, cfg.StreamWait = streamHolder{a.streams.Store()}, a.cfg.Streams.RetentionWait
	}
	a.log.Info("retention: expired events are archived", "archive", arch.URL(), "plans", plans.String(), "job", a.cfg.Retention.Enabled)
	return rtn.New(cfg), nil
}
