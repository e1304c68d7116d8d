package storetest

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/auditkeep/auditkeep"
)

// Base is the time of the fixture's first event.
var Base = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)

// The fixture's people and machines.
var (
	alice   = auditkeep.Actor{Type: auditkeep.ActorUser, ID: "usr_42", Name: "Alice Martin", Email: "alice@example.com"}
	bob     = auditkeep.Actor{Type: auditkeep.ActorUser, ID: "usr_7", Name: "Bob Stone", Email: "bob@example.com"}
	chloe   = auditkeep.Actor{Type: auditkeep.ActorUser, ID: "usr_9", Name: "Chloé Dubois", Email: "Chloe.Dubois@Example.org"}
	ciToken = auditkeep.Actor{Type: auditkeep.ActorAPIToken, ID: "tok_1", Name: "ci-deploy"}
	system  = auditkeep.Actor{Type: auditkeep.ActorSystem, ID: "system"}
	sched   = auditkeep.Actor{Type: auditkeep.ActorService, ID: "svc_scheduler", Name: "scheduler"}
)

// IPs: Alice at the office, Bob at home, Chloé on IPv6, CI in a cloud
// range, an attacker guessing passwords.
const (
	ipOffice   = "203.0.113.7"
	ipOffice2  = "203.0.113.20"
	ipBob      = "198.51.100.23"
	ipChloe    = "2001:db8:85a3::8a2e:370:7334"
	ipChloe2   = "2001:db8:85a3::1"
	ipCI       = "192.0.2.10"
	ipAttacker = "198.51.100.200"
)

type place struct {
	scope  []auditkeep.ScopeEntry
	target *auditkeep.Target
}

func scope(entries ...string) []auditkeep.ScopeEntry {
	var s []auditkeep.ScopeEntry
	for i := 0; i+2 < len(entries); i += 3 {
		s = append(s, auditkeep.ScopeEntry{Type: entries[i], ID: entries[i+1], Name: entries[i+2]})
	}
	return s
}

// Fixture returns a realistic platform's audit log for tenant, in the order
// it is appended: projects → environments → services, users and API
// tokens, logins and failed logins, deploys, configuration changes with
// snapshots, deletions, from IPv4 and IPv6 addresses. Occurrence times
// are mostly increasing, with a few late arrivals. Every call returns new
// values.
func Fixture(tenant string) []*auditkeep.Event {
	var events []*auditkeep.Event
	n := 0
	add := func(actor auditkeep.Actor, action, typ, ip, source, status, team string, p place, desc string, changes []auditkeep.Change, snapshot string) *auditkeep.Event {
		n++
		at := Base.Add(time.Duration(n)*time.Minute + time.Duration(n*1237)) // nanoseconds that must survive
		e := &auditkeep.Event{
			Tenant:      tenant,
			ReceivedAt:  at.Add(150 * time.Millisecond),
			ID:          fmt.Sprintf("evt_%s_%03d", tenant, n),
			OccurredAt:  at,
			Action:      action,
			Type:        typ,
			Actor:       actor,
			Target:      p.target,
			Scope:       p.scope,
			Team:        team,
			Source:      source,
			Context:     auditkeep.Context{IP: ip, UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"},
			Status:      status,
			Description: desc,
			Changes:     changes,
		}
		if p.target != nil {
			t := *p.target
			e.Target = &t
		}
		if snapshot != "" {
			e.Snapshot = json.RawMessage(snapshot)
		}
		events = append(events, e)
		return e
	}
	shop := scope("project", "prj_1", "Shop")
	prod := scope("project", "prj_1", "Shop", "environment", "env_7", "production")
	staging := scope("project", "prj_1", "Shop", "environment", "env_8", "staging")
	billingProd := scope("project", "prj_2", "Billing", "environment", "env_9", "production")
	api := scope("project", "prj_1", "Shop", "environment", "env_7", "production", "service", "svc_1", "api")
	worker := scope("project", "prj_1", "Shop", "environment", "env_7", "production", "service", "svc_2", "worker")
	target := func(typ, id, name string) *auditkeep.Target { return &auditkeep.Target{Type: typ, ID: id, Name: name} }
	ok, fail := auditkeep.StatusSuccess, auditkeep.StatusFailure

	// Day one: Alice sets up the platform.
	add(alice, "user.login", auditkeep.TypeLogin, ipOffice, "console", ok, "platform", place{}, "Alice Martin logged in", nil, "")
	add(alice, "project.create", auditkeep.TypeCreate, ipOffice, "console", ok, "platform",
		place{nil, target("project", "prj_1", "Shop")}, "Created project 'Shop'", nil, `{"id":"prj_1","name":"Shop"}`)
	add(alice, "environment.create", auditkeep.TypeCreate, ipOffice, "console", ok, "platform",
		place{shop, target("environment", "env_7", "prod")}, "Created environment 'prod' in project 'Shop'", nil,
		`{"id":"env_7","name":"prod","mode":"PRODUCTION"}`)
	add(alice, "environment.update", auditkeep.TypeUpdate, ipOffice, "console", ok, "platform",
		place{shop, target("environment", "env_7", "production")},
		"Updated environment 'production': name changed from 'prod' to 'production'",
		[]auditkeep.Change{{Field: "name", Op: auditkeep.ChangeChanged, Old: json.RawMessage(`"prod"`), New: json.RawMessage(`"production"`)}},
		`{"id":"env_7","name":"production","mode":"PRODUCTION"}`)
	add(alice, "environment.create", auditkeep.TypeCreate, ipOffice, "console", ok, "platform",
		place{shop, target("environment", "env_8", "staging")}, "Created environment 'staging' in project 'Shop'", nil, "")
	add(alice, "service.create", auditkeep.TypeCreate, ipOffice, "terraform", ok, "platform",
		place{prod, target("service", "svc_1", "api")}, "Created service 'api'", nil,
		`{"id":"svc_1","name":"api","cpu":250,"memory":512,"ports":[8080]}`)
	add(alice, "service.create", auditkeep.TypeCreate, ipOffice, "terraform", ok, "platform",
		place{prod, target("service", "svc_2", "worker")}, "Created service 'worker'", nil, `{"id":"svc_2","name":"worker"}`)
	add(alice, "service.create", auditkeep.TypeCreate, ipOffice, "terraform", ok, "platform",
		place{staging, target("service", "svc_3", "api")}, "Created service 'api'", nil, `{"id":"svc_3","name":"api"}`)
	add(alice, "token.create", auditkeep.TypeCreate, ipOffice, "console", ok, "platform",
		place{shop, target("token", "tok_1", "ci-deploy")}, "Created API token 'ci-deploy'", nil, `{"id":"tok_1","scopes":["deploy"]}`)
	add(alice, "token.create", auditkeep.TypeCreate, ipOffice2, "api", ok, "platform",
		place{shop, target("token", "tok_2", "terraform")}, "Created API token 'terraform'", nil, "")

	// Bob works on billing.
	add(bob, "user.login", auditkeep.TypeLogin, ipBob, "console", ok, "billing", place{}, "Bob Stone logged in", nil, "")
	add(bob, "project.create", auditkeep.TypeCreate, ipBob, "console", ok, "billing",
		place{nil, target("project", "prj_2", "Billing")}, "Created project 'Billing'", nil, "")
	add(bob, "environment.create", auditkeep.TypeCreate, ipBob, "cli", ok, "billing",
		place{scope("project", "prj_2", "Billing"), target("environment", "env_9", "production")},
		"Created environment 'production' in project 'Billing'", nil, "")
	add(bob, "database.create", auditkeep.TypeCreate, ipBob, "cli", ok, "billing",
		place{billingProd, target("database", "db_1", "prod db")}, "Created database 'prod db'", nil,
		`{"id":"db_1","engine":"postgres","version":"16"}`)

	// An attacker guesses Bob's password.
	for range 4 {
		add(bob, "user.login", auditkeep.TypeLogin, ipAttacker, "console", fail, "", place{},
			"Failed login for bob@example.com: wrong password", nil, "")
	}

	// Chloé joins from abroad over IPv6 and reads secrets.
	add(chloe, "user.login", auditkeep.TypeLogin, ipChloe, "console", ok, "security", place{}, "Chloé Dubois logged in", nil, "")
	add(chloe, "secret.read", auditkeep.TypeRead, ipChloe, "console", ok, "security",
		place{prod, target("secret", "sec_1", "STRIPE_KEY")}, "Read secret 'STRIPE_KEY'", nil, "")
	add(chloe, "secret.read", auditkeep.TypeRead, ipChloe2, "cli", ok, "security",
		place{billingProd, target("secret", "sec_2", "DB_PASSWORD")}, "Read secret 'DB_PASSWORD'", nil, "")

	// CI deploys, again and again.
	for i := range 24 {
		p := place{api, target("service", "svc_1", "api")}
		if i%3 == 2 {
			p = place{worker, target("service", "svc_2", "worker")}
		}
		status := ok
		desc := fmt.Sprintf("Deployed %s version v1.%d.0", p.target.Name, i)
		if i%8 == 5 {
			status, desc = fail, fmt.Sprintf("Deployment of %s v1.%d.0 failed: image not found", p.target.Name, i)
		}
		add(ciToken, "service.deploy", auditkeep.TypeExecute, ipCI, "api", status, "",
			p, desc, nil, fmt.Sprintf(`{"id":%q,"version":"v1.%d.0","replicas":%d}`, p.target.ID, i, 2+i%3))
	}

	// Configuration changes.
	add(alice, "service.update", auditkeep.TypeUpdate, ipOffice, "console", ok, "platform",
		place{api, target("service", "svc_1", "api")}, "Updated service 'api': cpu changed from 250 to 500",
		[]auditkeep.Change{{Field: "settings.cpu", Op: auditkeep.ChangeChanged, Old: json.RawMessage(`250`), New: json.RawMessage(`500`)}},
		`{"id":"svc_1","name":"api","cpu":500,"memory":512,"ports":[8080]}`)
	add(bob, "environment.update", auditkeep.TypeUpdate, ipBob, "terraform", ok, "billing",
		place{billingProd, target("environment", "env_9", "production")},
		"Updated environment 'production': env.LOG_LEVEL changed",
		[]auditkeep.Change{{Field: "env.LOG_LEVEL", Op: auditkeep.ChangeChanged, Old: json.RawMessage(`"hmac-sha256:1f2e"`), New: json.RawMessage(`"hmac-sha256:9a8b"`)}}, "")
	add(sched, "service.restart", auditkeep.TypeExecute, "", "system", ok, "",
		place{worker, target("service", "svc_2", "worker")}, "Restarted service 'worker' (out of memory)", nil, "")
	add(system, "certificate.renew", auditkeep.TypeUpdate, "", "system", ok, "",
		place{prod, target("certificate", "crt_1", "shop.example.com")}, "Renewed certificate 'shop.example.com'", nil, "")

	// Deletions: the worker is removed, the terraform token deleted; a
	// failed delete leaves the staging environment alive.
	add(alice, "service.delete", auditkeep.TypeDelete, ipOffice, "console", ok, "platform",
		place{prod, target("service", "svc_2", "worker")}, "Deleted service 'worker'", nil, "")
	add(alice, "token.delete", auditkeep.TypeDelete, ipOffice, "console", ok, "platform",
		place{shop, target("token", "tok_2", "terraform")}, "Deleted API token 'terraform'", nil, "")
	add(bob, "environment.delete", auditkeep.TypeDelete, ipBob, "console", fail, "billing",
		place{shop, target("environment", "env_8", "staging")}, "Failed to delete environment 'staging': permission denied", nil, "")
	// A token reused after deletion: still reported as deleted.
	add(alice, "token.update", auditkeep.TypeUpdate, ipOffice, "api", fail, "platform",
		place{shop, target("token", "tok_2", "terraform")}, "Updated API token 'terraform'", nil, "")

	// A late arrival from the agent: occurred before most of the above.
	late := add(system, "node.reboot", auditkeep.TypeInfo, "", "system", ok, "", place{nil, target("node", "node_3", "node-3")},
		"Node node-3 rebooted", nil, "")
	late.OccurredAt = Base.Add(90*time.Second + 7)
	late.Metadata = json.RawMessage(`{"kernel":"6.12.1","uptime_s":0}`)
	late.Before = json.RawMessage(`{"state":"running"}`)

	add(alice, "user.logout", auditkeep.TypeLogout, "::ffff:203.0.113.7", "console", ok, "platform", place{}, "Alice Martin logged out", nil, "")
	return events
}
