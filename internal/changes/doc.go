// Package changes computes what an audited action changed and how to tell
// it: field-level differences of two JSON documents (Diff, Compare),
// generated descriptions (Describe), and redaction of sensitive values by a
// keyed hash (Rules, Redactor). It is pure computation: no storage, no I/O.
//
// A field path names a value inside a JSON document: object keys joined
// with ".", array indexes in brackets, and keys that are not simple
// identifiers (a letter or '_', then letters, digits, '_' or '-') as quoted
// JSON strings in brackets. An element of an array of objects that Diff
// matched by identity is named by it in brackets: the field, '=', and the
// value (a number, an identifier bare, anything else as a JSON string). The
// root of a document is the empty path "".
//
//	settings.cpu
//	env.LOG_LEVEL
//	ports[1]
//	labels["app.kubernetes.io/name"]
//	services[name=api].replicas
//	services[id="3fa8-11"]
//
// The ingest pipeline uses it in this order, so that no clear sensitive
// value reaches the stored changes or description:
//
//	r, err := changes.NewRedactor(tenantRules, tenantKey)
//	// 1. Redact the documents, the sender's changes and the sender's description.
//	if err := r.RedactEvent(e); err != nil { … }
//	// 2. Diff the redacted documents: equal clear values have equal hashes,
//	//    so "it changed" stays visible.
//	if len(e.Changes) == 0 && (len(e.Before) > 0 || len(e.Snapshot) > 0) {
//		e.Changes, err = changes.Diff(e.Before, e.Snapshot)
//		// When diffing against an earlier stored snapshot, that snapshot may
//		// have been redacted under older rules: run r.RedactEvent(e) again
//		// (it is idempotent) to redact the new changes by path.
//	}
//	// 3. Describe from what is now redacted.
//	if e.Description == "" {
//		e.Description = changes.Describe(e)
//	}
package changes
