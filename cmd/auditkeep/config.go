package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is the server's configuration: DefaultConfig, then AUDITKEEP_*
// environment variables, then flags, then Validate.
type Config struct {
	Addr            string        // --addr, AUDITKEEP_ADDR
	DataDir         string        // --data, AUDITKEEP_DATA
	DatabaseURL     string        // --database-url, AUDITKEEP_DATABASE_URL
	RootKey         string        // AUDITKEEP_ROOT_KEY (environment only: flags show in ps)
	LogLevel        string        // --log-level, AUDITKEEP_LOG_LEVEL
	LogFormat       string        // --log-format, AUDITKEEP_LOG_FORMAT
	ShutdownTimeout time.Duration // --shutdown-timeout, AUDITKEEP_SHUTDOWN_TIMEOUT
	MaxGroupEvents  int           // --max-group-events, AUDITKEEP_MAX_GROUP_EVENTS
	ReadTimeout     time.Duration // --read-timeout, AUDITKEEP_READ_TIMEOUT
	RateLimit       float64       // --rate-limit, AUDITKEEP_RATE_LIMIT: requests per second per key, 0 = off
	RateBurst       int           // --rate-burst, AUDITKEEP_RATE_BURST
	AddrFile        string        // --addr-file: write the listening URL here once ready
	Ledger          bool          // --ledger, AUDITKEEP_LEDGER: keep the tamper-evident ledger (default on)
	LedgerKey       string        // AUDITKEEP_LEDGER_KEY: the checkpoint signer key text (environment only)
	LedgerKeyFile   string        // --ledger-key-file, AUDITKEEP_LEDGER_KEY_FILE: a file holding it
	LedgerInterval  time.Duration // --ledger-interval, AUDITKEEP_LEDGER_INTERVAL: how often every tenant is checked for events to integrate

	// Retention holds the retention settings (retention.go).
	Retention RetentionConfig
	// Network holds the proxy settings (network.go).
	Network NetworkConfig
	// People holds single sign-on and roles (people.go).
	People PeopleConfig
	// Streams holds the stream settings (streams.go).
	Streams StreamConfig
	// Notify holds the alert notifications' settings (notify.go).
	Notify NotifyConfig
	// Alerts: evaluate the tenants' alert rules on this node (--alerts,
	// AUDITKEEP_ALERTS; evaluator.go).
	Alerts bool
}

// DefaultConfig returns the configuration used when nothing is set.
func DefaultConfig() Config {
	return Config{
		Addr:            "127.0.0.1:8080",
		DataDir:         "./data",
		LogLevel:        "info",
		LogFormat:       "text",
		ShutdownTimeout: 30 * time.Second,
		MaxGroupEvents:  20000,
		Ledger:          true,
		LedgerInterval:  time.Second,
		Retention:       defaultRetention(),
		Network:         defaultNetwork(),
		People:          defaultPeople(),
		Streams:         defaultStreams(),
		Alerts:          true,
		ReadTimeout:     60 * time.Second,
	}
}

// configSetting documents one setting for the README and `serve -h`.
type configSetting struct {
	flag, env, help string
}

var configSettings = []configSetting{
	{"addr", "AUDITKEEP_ADDR", "address to listen on (host:port)"},
	{"data", "AUDITKEEP_DATA", "directory of the embedded SQLite store"},
	{"database-url", "AUDITKEEP_DATABASE_URL", "PostgreSQL URL (postgres://...); replaces the embedded store"},
	{"", "AUDITKEEP_ROOT_KEY", "the operator's root key; when unset one is generated at first start and printed once"},
	{"log-level", "AUDITKEEP_LOG_LEVEL", "debug, info, warn or error"},
	{"log-format", "AUDITKEEP_LOG_FORMAT", "text or json"},
	{"shutdown-timeout", "AUDITKEEP_SHUTDOWN_TIMEOUT", "how long a shutdown waits for in-flight requests"},
	{"max-group-events", "AUDITKEEP_MAX_GROUP_EVENTS", "most events in one group commit"},
	{"read-timeout", "AUDITKEEP_READ_TIMEOUT", "longest time to read one request, body included"},
	{"rate-limit", "AUDITKEEP_RATE_LIMIT", "requests per second allowed per API key; 0 turns limiting off"},
	{"rate-burst", "AUDITKEEP_RATE_BURST", "requests a key may send at once above the rate"},
	{"ledger", "AUDITKEEP_LEDGER", "keep the tamper-evident ledger (Merkle trees, signed checkpoints); true or false"},
	{"", "AUDITKEEP_LEDGER_KEY", "the checkpoint signer key (note signer key text, PRIVATE+KEY+...)"},
	{"ledger-key-file", "AUDITKEEP_LEDGER_KEY_FILE", "file holding the checkpoint signer key; default <data>/ledger.key, or the key shared in PostgreSQL"},
	{"ledger-interval", "AUDITKEEP_LEDGER_INTERVAL", "how often every tenant is checked for events to integrate (other nodes' events)"},
	{"retention", "AUDITKEEP_RETENTION", "run the retention job on this node (archive, then remove expired events); true or false"},
	{"archive-url", "AUDITKEEP_ARCHIVE_URL", "where expired events are archived: file:///dir, s3://bucket, gs://bucket or azblob://container; default <data>/archive"},
	{"plans", "AUDITKEEP_PLANS", "retention plans as name=days,... (0 = unlimited), applied by PUT /v1/tenants/{tenant} {\"plan\": name}"},
	{"retention-interval", "AUDITKEEP_RETENTION_INTERVAL", "how often the retention job runs"},
	{"retention-batch", "AUDITKEEP_RETENTION_BATCH", "events archived and removed per transaction by the retention job"},
	{"tls-cert", "AUDITKEEP_TLS_CERT", "PEM certificate chain file: serve HTTPS and HTTP/2; reloaded on SIGHUP"},
	{"tls-key", "AUDITKEEP_TLS_KEY", "PEM private key file of tls-cert"},
	{"trusted-proxies", "AUDITKEEP_TRUSTED_PROXIES", "networks of the reverse proxies in front of the server (CIDRs); only from them is the forwarding header read"},
	{"client-ip-header", "AUDITKEEP_CLIENT_IP_HEADER", "the header the trusted proxies write: X-Forwarded-For or Forwarded"},
	{"streams", "AUDITKEEP_STREAMS", "deliver the tenants' streams from this node; true or false"},
	{"", "AUDITKEEP_STREAM_KEY", "the key that seals streams' secrets (16 characters or more; every node the same); when unset one is generated and kept in the store"},
	{"stream-batch", "AUDITKEEP_STREAM_BATCH", "most events per stream delivery"},
	{"stream-retention-wait", "AUDITKEEP_STREAM_RETENTION_WAIT", "longest an event past its retention waits for the streams that have not delivered it; 0: not at all"},
}

func init() { configSettings = append(configSettings, peopleSettings...) }

// redactedURL is a flag holding a URL that may carry a password: usage
// messages show its default without the password.
type redactedURL struct{ s *string }

func (r *redactedURL) String() string {
	if r == nil || r.s == nil || *r.s == "" {
		return ""
	}
	u, err := url.Parse(*r.s)
	if err != nil {
		return "(set)"
	}
	return u.Redacted()
}

func (r *redactedURL) Set(v string) error {
	*r.s = v
	return nil
}

// loadConfig applies the environment, then flags, then validates.
func loadConfig(args []string, getenv func(string) string, fs *flag.FlagSet) (Config, error) {
	cfg := DefaultConfig()
	if err := cfg.fromEnv(getenv); err != nil {
		return cfg, err
	}
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "address to listen on (AUDITKEEP_ADDR)")
	fs.StringVar(&cfg.DataDir, "data", cfg.DataDir, "directory of the embedded SQLite store (AUDITKEEP_DATA)")
	fs.Var(&redactedURL{&cfg.DatabaseURL}, "database-url", "PostgreSQL `URL`; replaces the embedded store (AUDITKEEP_DATABASE_URL)")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error (AUDITKEEP_LOG_LEVEL)")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "text or json (AUDITKEEP_LOG_FORMAT)")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "how long a shutdown waits for in-flight requests (AUDITKEEP_SHUTDOWN_TIMEOUT)")
	fs.IntVar(&cfg.MaxGroupEvents, "max-group-events", cfg.MaxGroupEvents, "most events in one group commit (AUDITKEEP_MAX_GROUP_EVENTS)")
	fs.DurationVar(&cfg.ReadTimeout, "read-timeout", cfg.ReadTimeout, "longest time to read one request, body included (AUDITKEEP_READ_TIMEOUT)")
	fs.Float64Var(&cfg.RateLimit, "rate-limit", cfg.RateLimit, "requests per second per API key, 0 = unlimited (AUDITKEEP_RATE_LIMIT)")
	fs.IntVar(&cfg.RateBurst, "rate-burst", cfg.RateBurst, "requests a key may send at once above the rate; default: one second's worth (AUDITKEEP_RATE_BURST)")
	fs.StringVar(&cfg.AddrFile, "addr-file", "", "write the server's URL to this file once it listens")
	fs.BoolVar(&cfg.Ledger, "ledger", cfg.Ledger, "keep the tamper-evident ledger (AUDITKEEP_LEDGER)")
	fs.StringVar(&cfg.LedgerKeyFile, "ledger-key-file", cfg.LedgerKeyFile, "file holding the checkpoint signer key (AUDITKEEP_LEDGER_KEY_FILE); default <data>/ledger.key")
	fs.DurationVar(&cfg.LedgerInterval, "ledger-interval", cfg.LedgerInterval, "how often every tenant is checked for events to integrate (AUDITKEEP_LEDGER_INTERVAL)")
	cfg.Retention.flags(fs)
	cfg.Network.flags(fs)
	cfg.People.flags(fs)
	cfg.Streams.flags(fs)
	cfg.Notify.flags(fs)
	fs.BoolVar(&cfg.Alerts, "alerts", cfg.Alerts, "evaluate the tenants' alert rules on this node (AUDITKEEP_ALERTS)")
	restore := hush(fs)
	err := fs.Parse(args)
	restore()
	if err := flagFailure(fs, err); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return cfg, cfg.Validate()
}

func (c *Config) fromEnv(getenv func(string) string) error {
	str := func(name string, dst *string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	str("AUDITKEEP_ADDR", &c.Addr)
	str("AUDITKEEP_DATA", &c.DataDir)
	str("AUDITKEEP_DATABASE_URL", &c.DatabaseURL)
	str("AUDITKEEP_ROOT_KEY", &c.RootKey)
	str("AUDITKEEP_LOG_LEVEL", &c.LogLevel)
	str("AUDITKEEP_LOG_FORMAT", &c.LogFormat)
	if v := getenv("AUDITKEEP_SHUTDOWN_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("AUDITKEEP_SHUTDOWN_TIMEOUT: %q is not a duration such as 30s", v)
		}
		c.ShutdownTimeout = d
	}
	if v := getenv("AUDITKEEP_READ_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("AUDITKEEP_READ_TIMEOUT: %q is not a duration such as 60s", v)
		}
		c.ReadTimeout = d
	}
	if v := getenv("AUDITKEEP_RATE_LIMIT"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("AUDITKEEP_RATE_LIMIT: %q is not a number of requests per second", v)
		}
		c.RateLimit = f
	}
	str("AUDITKEEP_LEDGER_KEY", &c.LedgerKey)
	str("AUDITKEEP_LEDGER_KEY_FILE", &c.LedgerKeyFile)
	if v := getenv("AUDITKEEP_LEDGER"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("AUDITKEEP_LEDGER: %q is not true or false", v)
		}
		c.Ledger = b
	}
	if v := getenv("AUDITKEEP_LEDGER_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("AUDITKEEP_LEDGER_INTERVAL: %q is not a duration such as 1s", v)
		}
		c.LedgerInterval = d
	}
	if v := getenv("AUDITKEEP_RATE_BURST"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("AUDITKEEP_RATE_BURST: %q is not a whole number", v)
		}
		c.RateBurst = n
	}
	if v := getenv("AUDITKEEP_MAX_GROUP_EVENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("AUDITKEEP_MAX_GROUP_EVENTS: %q is not a whole number", v)
		}
		c.MaxGroupEvents = n
	}
	c.Network.fromEnv(getenv)
	if err := c.People.fromEnv(getenv); err != nil {
		return err
	}
	if err := c.Streams.fromEnv(getenv); err != nil {
		return err
	}
	c.Notify.fromEnv(getenv)
	if err := alertsFromEnv(&c.Alerts, getenv); err != nil {
		return err
	}
	return c.Retention.fromEnv(getenv)
}

// Validate checks the configuration; its errors name the setting.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("addr (AUDITKEEP_ADDR): %q is not host:port", c.Addr)
	}
	if c.DatabaseURL == "" && c.DataDir == "" {
		return fmt.Errorf("data (AUDITKEEP_DATA): set a directory, or database-url (AUDITKEEP_DATABASE_URL)")
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		return fmt.Errorf("database-url (AUDITKEEP_DATABASE_URL): must start with postgres://")
	}
	if c.RootKey != "" && len(c.RootKey) < 16 {
		return fmt.Errorf("AUDITKEEP_ROOT_KEY: must be at least 16 characters")
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return fmt.Errorf("log-level (AUDITKEEP_LOG_LEVEL): %v", err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("log-format (AUDITKEEP_LOG_FORMAT): %q is not text or json", c.LogFormat)
	}
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("shutdown-timeout (AUDITKEEP_SHUTDOWN_TIMEOUT): must be positive")
	}
	if c.ReadTimeout <= 0 {
		return fmt.Errorf("read-timeout (AUDITKEEP_READ_TIMEOUT): must be positive")
	}
	if c.RateLimit < 0 || c.RateBurst < 0 {
		return fmt.Errorf("rate-limit (AUDITKEEP_RATE_LIMIT) and rate-burst (AUDITKEEP_RATE_BURST): must not be negative")
	}
	if c.MaxGroupEvents < 1000 {
		return fmt.Errorf("max-group-events (AUDITKEEP_MAX_GROUP_EVENTS): must be at least 1000 (one full batch)")
	}
	if c.LedgerInterval <= 0 {
		return fmt.Errorf("ledger-interval (AUDITKEEP_LEDGER_INTERVAL): must be positive")
	}
	if c.LedgerKey != "" && c.LedgerKeyFile != "" {
		return fmt.Errorf("AUDITKEEP_LEDGER_KEY and ledger-key-file (AUDITKEEP_LEDGER_KEY_FILE): set one, not both")
	}
	if c.LedgerKey != "" && !strings.HasPrefix(c.LedgerKey, "PRIVATE+KEY+") {
		return fmt.Errorf("AUDITKEEP_LEDGER_KEY: must be a note signer key (PRIVATE+KEY+name+hash+key)")
	}
	if err := c.Network.validate(); err != nil {
		return err
	}
	if err := c.People.validate(); err != nil {
		return err
	}
	if err := c.Streams.validate(); err != nil {
		return err
	}
	if err := c.Notify.validate(); err != nil {
		return err
	}
	return c.Retention.validate()
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	return l, err
}
