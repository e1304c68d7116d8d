package alert

import (
	"strings"

	"github.com/auditkeep/auditkeep"
)

// ownSource is the source of the events auditkeep records of its own
// operations (the ingest path refuses it from senders).
const ownSource = "auditkeep"

// alertRecord reports whether e is auditkeep's own record of an alert
// (source auditkeep, action alert.open, alert.acknowledge, …). No rule
// counts them, so that an alert never raises another, however broad a
// rule's match (source:auditkeep).
func alertRecord(e *auditkeep.Event) bool {
	return e.Source == ownSource && strings.HasPrefix(e.Action, "alert.")
}
