package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/httpapi"
	"github.com/auditkeep/auditkeep/internal/web"
)

// PeopleConfig is how people sign in to the console: the operator's OpenID
// provider, the rules from its claims to roles, and whether API keys may
// still be pasted (see the README, "People, roles and sign-in").
type PeopleConfig struct {
	Issuer       string // --oidc-issuer, AUDITKEEP_OIDC_ISSUER
	ClientID     string // --oidc-client-id, AUDITKEEP_OIDC_CLIENT_ID
	ClientSecret string // --oidc-client-secret, AUDITKEEP_OIDC_CLIENT_SECRET
	RedirectURL  string // --oidc-redirect-url, AUDITKEEP_OIDC_REDIRECT_URL
	Scopes       string // --oidc-scopes, AUDITKEEP_OIDC_SCOPES: beside openid, comma-separated
	Roles        string // --oidc-roles, AUDITKEEP_OIDC_ROLES: JSON rules, or @file
	KeySignIn    bool   // --key-sign-in, AUDITKEEP_KEY_SIGN_IN

	rules []auditkeep.RoleRule // Roles, parsed by validate
}

func defaultPeople() PeopleConfig {
	return PeopleConfig{Scopes: "profile,email", KeySignIn: true}
}

var peopleSettings = []configSetting{
	{"oidc-issuer", "AUDITKEEP_OIDC_ISSUER", "the OpenID provider's issuer URL; turns on single sign-on for the console"},
	{"oidc-client-id", "AUDITKEEP_OIDC_CLIENT_ID", "the console's client ID at the provider"},
	{"oidc-client-secret", "AUDITKEEP_OIDC_CLIENT_SECRET", "the console's client secret (prefer the environment: flags show in ps)"},
	{"oidc-redirect-url", "AUDITKEEP_OIDC_REDIRECT_URL", "this server's URL with the path /signin/callback, as registered at the provider"},
	{"oidc-scopes", "AUDITKEEP_OIDC_SCOPES", "scopes asked beside openid, comma-separated"},
	{"oidc-roles", "AUDITKEEP_OIDC_ROLES", "the operator's rules from ID token claims to tenants and roles: JSON, or @file"},
	{"key-sign-in", "AUDITKEEP_KEY_SIGN_IN", "let people sign in to the console by pasting an API key; true or false"},
}

func (c *PeopleConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Issuer, "oidc-issuer", c.Issuer, "the OpenID provider's issuer `URL`; turns on single sign-on (AUDITKEEP_OIDC_ISSUER)")
	fs.StringVar(&c.ClientID, "oidc-client-id", c.ClientID, "the console's client ID at the provider (AUDITKEEP_OIDC_CLIENT_ID)")
	fs.StringVar(&c.ClientSecret, "oidc-client-secret", c.ClientSecret, "the console's client secret (AUDITKEEP_OIDC_CLIENT_SECRET; prefer the environment)")
	fs.StringVar(&c.RedirectURL, "oidc-redirect-url", c.RedirectURL, "this server's URL with the path /signin/callback (AUDITKEEP_OIDC_REDIRECT_URL)")
	fs.StringVar(&c.Scopes, "oidc-scopes", c.Scopes, "scopes asked beside openid, comma-separated (AUDITKEEP_OIDC_SCOPES)")
	fs.StringVar(&c.Roles, "oidc-roles", c.Roles, "rules from ID token claims to tenants and roles: JSON, or @file (AUDITKEEP_OIDC_ROLES)")
	fs.BoolVar(&c.KeySignIn, "key-sign-in", c.KeySignIn, "let people sign in to the console with an API key (AUDITKEEP_KEY_SIGN_IN)")
}

func (c *PeopleConfig) fromEnv(getenv func(string) string) error {
	for _, v := range []struct {
		name string
		dst  *string
	}{
		{"AUDITKEEP_OIDC_ISSUER", &c.Issuer}, {"AUDITKEEP_OIDC_CLIENT_ID", &c.ClientID},
		{"AUDITKEEP_OIDC_CLIENT_SECRET", &c.ClientSecret}, {"AUDITKEEP_OIDC_REDIRECT_URL", &c.RedirectURL},
		{"AUDITKEEP_OIDC_SCOPES", &c.Scopes}, {"AUDITKEEP_OIDC_ROLES", &c.Roles},
	} {
		if s := getenv(v.name); s != "" {
			*v.dst = s
		}
	}
	if v := getenv("AUDITKEEP_KEY_SIGN_IN"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("AUDITKEEP_KEY_SIGN_IN: %q is not true or false", v)
		}
		c.KeySignIn = b
	}
	return nil
}

// oidc returns the console's client configuration; nil without an issuer.
func (c *PeopleConfig) oidc() *web.OIDCConfig {
	if c.Issuer == "" && c.ClientID == "" && c.RedirectURL == "" {
		return nil
	}
	cfg := &web.OIDCConfig{Issuer: c.Issuer, ClientID: c.ClientID, ClientSecret: c.ClientSecret, RedirectURL: c.RedirectURL, Scopes: []string{}}
	for _, s := range strings.Split(c.Scopes, ",") {
		if s = strings.TrimSpace(s); s != "" && s != "openid" {
			cfg.Scopes = append(cfg.Scopes, s)
		}
	}
	return cfg
}

func (c *PeopleConfig) validate() error {
	if o := c.oidc(); o != nil {
		for _, f := range []struct{ name, env, value string }{
			{"oidc-issuer", "AUDITKEEP_OIDC_ISSUER", c.Issuer},
			{"oidc-client-id", "AUDITKEEP_OIDC_CLIENT_ID", c.ClientID},
			{"oidc-redirect-url", "AUDITKEEP_OIDC_REDIRECT_URL", c.RedirectURL},
		} {
			if f.value == "" {
				return fmt.Errorf("%s (%s): required for single sign-on, with oidc-issuer, oidc-client-id and oidc-redirect-url", f.name, f.env)
			}
		}
		if err := o.Validate(); err != nil {
			return fmt.Errorf("single sign-on: %v", err)
		}
	}
	c.rules = nil
	if c.Roles == "" {
		return nil
	}
	raw := []byte(c.Roles)
	if name, ok := strings.CutPrefix(c.Roles, "@"); ok {
		b, err := os.ReadFile(name)
		if err != nil {
			return fmt.Errorf("oidc-roles (AUDITKEEP_OIDC_ROLES): %v", err)
		}
		raw = b
	}
	if err := json.Unmarshal(raw, &c.rules); err != nil {
		return fmt.Errorf("oidc-roles (AUDITKEEP_OIDC_ROLES): not a JSON list of rules ({\"claim\", \"value\", \"tenant\", \"role\"}): %v", err)
	}
	if err := auditkeep.ValidateRoleRules("oidc-roles", c.rules, ""); err != nil {
		return fmt.Errorf("oidc-roles (AUDITKEEP_OIDC_ROLES): %v", auditkeep.ErrorMessage(err))
	}
	return nil
}

// api returns what the API server needs.
func (c *PeopleConfig) api() httpapi.PeopleConfig {
	return httpapi.PeopleConfig{OIDC: c.oidc(), Roles: c.rules, NoKeySignIn: !c.KeySignIn}
}
