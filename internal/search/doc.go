// Package search parses q, auditkeep's search language, into an
// auditkeep.Filter. The language follows GitHub's audit-log search:
//
//	actor:alice@example.com action:token.* -status:success created:>=2026-11-01 "prod db"
//
// A query is a list of terms separated by whitespace. Every term must hold
// for an event to match (AND). An empty query matches everything.
//
// # Filters: key:value
//
// These keys filter on a field of the event; they take the same values as
// the query parameters of the same name:
//
//	action:token.create         the action; a value ending in * is a prefix: action:token.*
//	type:delete                 create, read, update, delete, execute, login, logout or info
//	actor:alice@example.com     the actor's id, email or name
//	actor_type:api_token        user, api_token, service or system
//	target:production           the target's name
//	target_type:environment     the target's type
//	target_id:env_7             the target's id
//	scope:project:prj_1         a scope path; matches it and everything below it:
//	                            scope:project:prj_1/environment:env_7
//	team:platform               the team
//	ip:203.0.113.7              an address, or a CIDR prefix: ip:10.0.0.0/8
//	source:terraform            the tool: console, api, cli, terraform, ...
//	status:failure              success or failure
//
// Keys are case-insensitive; actor-type, target-type and target-id are
// accepted for actor_type, target_type and target_id. GitHub's user: is not
// accepted, because it could mean the actor or the target.
//
// Several values separated by commas match any of them (OR):
// action:user.login,user.logout. A value holding spaces, commas or quotes is
// quoted: actor:"Alice Martin", target:"prod db", actor:"Martin, Alice".
// Inside quotes, \" stands for a quote and \\ for a backslash.
//
// # Time: created
//
// created: bounds the time the event occurred (occurred_at). It takes a date
// (YYYY-MM-DD, a whole day in UTC) or an RFC 3339 time
// (2026-11-26T09:00:00Z, 2026-11-26T10:00:00+01:00):
//
//	created:2026-11-01                  during that day (also created:=2026-11-01)
//	created:>=2026-11-01                on or after that day
//	created:>2026-11-01                 after that day: from 2026-11-02
//	created:<2026-11-01                 before that day
//	created:<=2026-11-01                before the end of that day
//	created:2026-11-01..2026-11-07      from the start of the first day to the end of the last
//	created:2026-11-01..*               on or after that day
//	created:*..2026-11-07               on or before that day
//	created:>2026-11-26T09:00:00Z       after that instant
//
// Several created: terms must all hold.
//
// # Negation
//
// A '-' before a term excludes what it matches: -status:success,
// -action:user.login,user.logout (neither), -actor_type:system, -staging,
// -"dry run". -created:>X means created:<=X, and so on for the other
// operators; a negated single date or range (-created:2026-11-01,
// -created:A..B) is not accepted, because it would mean two ranges.
//
// # Full-text search
//
// Any other word is searched, case-insensitively, in the actor's name and
// email, the target's name, the action, the team, the IP address and the
// description; every word must be found. A quoted phrase ("prod db") must be
// found as written, words in that order. The last bare word of a query (not
// a phrase) also matches as the beginning of a word, so that prod finds
// production while you type. A word holding ':' after a leading run of
// letters (http://..., note:) reads as a key, so quote it: "note:".
//
// # Errors and limits
//
// A query is at most 2000 bytes and 50 terms. Errors name the byte position
// of the problem, counting from 0:
//
//	unknown key "actr" at 0; did you mean "actor"?
//	unterminated quote at 12
//	expected a value after "action:" at 7
//	invalid date "2026-13-01" at 8
package search
