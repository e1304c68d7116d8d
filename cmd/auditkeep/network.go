package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/auditkeep/auditkeep/clientip"
)

// NetworkConfig is how the server meets its clients: TLS, and the proxies
// in front of it.
type NetworkConfig struct {
	TLSCert        string // --tls-cert, AUDITKEEP_TLS_CERT: PEM certificate chain file
	TLSKey         string // --tls-key, AUDITKEEP_TLS_KEY: PEM private key file
	TrustedProxies string // --trusted-proxies, AUDITKEEP_TRUSTED_PROXIES: CIDRs, comma-separated
	ClientIPHeader string // --client-ip-header, AUDITKEEP_CLIENT_IP_HEADER: X-Forwarded-For or Forwarded
}

func defaultNetwork() NetworkConfig {
	return NetworkConfig{ClientIPHeader: clientip.XForwardedFor}
}

func (c *NetworkConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "PEM certificate chain `file`; serve HTTPS (and HTTP/2), reloaded on SIGHUP (AUDITKEEP_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "PEM private key `file` of --tls-cert (AUDITKEEP_TLS_KEY)")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", c.TrustedProxies, "`CIDRs` of the reverse proxies in front of the server; only their X-Forwarded-For/Forwarded is read (AUDITKEEP_TRUSTED_PROXIES)")
	fs.StringVar(&c.ClientIPHeader, "client-ip-header", c.ClientIPHeader, "the header the trusted proxies write: X-Forwarded-For or Forwarded (AUDITKEEP_CLIENT_IP_HEADER)")
}

func (c *NetworkConfig) fromEnv(getenv func(string) string) {
	if v := getenv("AUDITKEEP_TLS_CERT"); v != "" {
		c.TLSCert = v
	}
	if v := getenv("AUDITKEEP_TLS_KEY"); v != "" {
		c.TLSKey = v
	}
	if v := getenv("AUDITKEEP_TRUSTED_PROXIES"); v != "" {
		c.TrustedProxies = v
	}
	if v := getenv("AUDITKEEP_CLIENT_IP_HEADER"); v != "" {
		c.ClientIPHeader = v
	}
}

// validate checks the settings; its errors name the setting.
func (c *NetworkConfig) validate() error {
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("tls-cert (AUDITKEEP_TLS_CERT) and tls-key (AUDITKEEP_TLS_KEY): set both, or neither")
	}
	if _, err := clientip.ParsePrefixes(c.TrustedProxies); err != nil {
		return fmt.Errorf("trusted-proxies (AUDITKEEP_TRUSTED_PROXIES): %v", err)
	}
	switch strings.ToLower(c.ClientIPHeader) {
	case "x-forwarded-for", "forwarded":
	default:
		return fmt.Errorf("client-ip-header (AUDITKEEP_CLIENT_IP_HEADER): %q is not X-Forwarded-For or Forwarded", c.ClientIPHeader)
	}
	return nil
}

// resolver returns the client address rule of the settings (valid ones).
func (c *NetworkConfig) resolver() clientip.Resolver {
	trusted, _ := clientip.ParsePrefixes(c.TrustedProxies)
	return clientip.Resolver{Trusted: trusted, Header: c.ClientIPHeader}
}
