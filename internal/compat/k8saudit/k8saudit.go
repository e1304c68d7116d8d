// Package k8saudit maps the Kubernetes API server's audit events, as its
// webhook backend posts them (an audit.k8s.io/v1 EventList, JSON), onto
// auditkeep events. The types mirror k8s.io/apiserver/pkg/apis/audit/v1
// (types.go: Event, ObjectReference, and authentication/v1 UserInfo,
// meta/v1 Status); the backend is k8s.io/apiserver/plugin/pkg/audit/webhook,
// which test/senders drives against auditkeep. The mapping is the table in
// README.md, "Kubernetes audit webhook".
package k8saudit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/compat"
	"github.com/auditkeep/auditkeep/internal/ijson"
)

// EventList is audit.k8s.io/v1 EventList.
type EventList struct {
	Kind       string  `json:"kind"`
	APIVersion string  `json:"apiVersion"`
	Items      []Event `json:"items"`
}

// Event is audit.k8s.io/v1 Event.
type Event struct {
	Level                    string            `json:"level"`
	AuditID                  string            `json:"auditID"`
	Stage                    string            `json:"stage"`
	RequestURI               string            `json:"requestURI"`
	Verb                     string            `json:"verb"`
	User                     UserInfo          `json:"user"`
	ImpersonatedUser         *UserInfo         `json:"impersonatedUser,omitempty"`
	AuthenticationMetadata   json.RawMessage   `json:"authenticationMetadata,omitempty"`
	SourceIPs                []string          `json:"sourceIPs,omitempty"`
	UserAgent                string            `json:"userAgent,omitempty"`
	ObjectRef                *ObjectReference  `json:"objectRef,omitempty"`
	ResponseStatus           *Status           `json:"responseStatus,omitempty"`
	RequestObject            json.RawMessage   `json:"requestObject,omitempty"`
	ResponseObject           json.RawMessage   `json:"responseObject,omitempty"`
	RequestReceivedTimestamp string            `json:"requestReceivedTimestamp"`
	StageTimestamp           string            `json:"stageTimestamp"`
	Annotations              map[string]string `json:"annotations,omitempty"`
}

// UserInfo is authentication.k8s.io/v1 UserInfo.
type UserInfo struct {
	Username string              `json:"username,omitempty"`
	UID      string              `json:"uid,omitempty"`
	Groups   []string            `json:"groups,omitempty"`
	Extra    map[string][]string `json:"extra,omitempty"`
}

// ObjectReference is audit.k8s.io/v1 ObjectReference.
type ObjectReference struct {
	Resource        string `json:"resource,omitempty"`
	Namespace       string `json:"namespace,omitempty"`
	Name            string `json:"name,omitempty"`
	UID             string `json:"uid,omitempty"`
	APIGroup        string `json:"apiGroup,omitempty"`
	APIVersion      string `json:"apiVersion,omitempty"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
	Subresource     string `json:"subresource,omitempty"`
}

// Status is the part of meta/v1 Status an audit event's responseStatus
// carries.
type Status struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Code    int    `json:"code,omitempty"`
}

// Stages of a request (audit.k8s.io/v1 Stage).
const (
	StageRequestReceived  = "RequestReceived"
	StageResponseStarted  = "ResponseStarted"
	StageResponseComplete = "ResponseComplete"
	StagePanic            = "Panic"
)

// Limits keep a mapped event within ingest's: a snapshot that would make
// the event larger is left out (and said so in metadata), since the API
// server cannot shorten what it sends and would resend the batch forever.
const (
	maxEventBytes = 60 << 10
	maxUserAgent  = 1024
)

// Hash hides a secret value as the tenant's redaction does
// (changes.Redactor.HashJSON).
type Hash func(value json.RawMessage) (string, error)

// Decode reads an EventList body. Errors are EINVALID naming the member
// ("items[3].stageTimestamp").
func Decode(body []byte) (*EventList, error) {
	if err := ijson.Check(body, nil, ""); err != nil {
		return nil, err
	}
	var list EventList
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, auditkeep.FieldErrorf("body", "the body is not an audit.k8s.io/v1 EventList: %v", err)
	}
	if list.Kind != "EventList" || list.APIVersion != "audit.k8s.io/v1" {
		return nil, auditkeep.FieldErrorf("kind", "kind %q, apiVersion %q: want an audit.k8s.io/v1 EventList", list.Kind, list.APIVersion)
	}
	return &list, nil
}

// Map returns the events of list: one per auditID whose final stage
// (ResponseComplete or Panic) is in the list, with what its earlier stages
// in the list hold and the final one lacks folded in. Earlier stages
// without their final one are left out: the final stage comes later, in
// another list. hash hides Secrets' values. The indexes returned give each
// event's item in list, for naming fields in errors.
func Map(list *EventList, hash Hash) ([]*auditkeep.Event, []int, error) {
	final := map[string]int{}
	for i, it := range list.Items {
		if it.AuditID == "" {
			return nil, nil, auditkeep.FieldErrorf(fmt.Sprintf("items[%d].auditID", i), "items[%d].auditID is required", i)
		}
		if it.Stage == StageResponseComplete || it.Stage == StagePanic {
			if j, ok := final[it.AuditID]; !ok || list.Items[j].Stage != StagePanic {
				final[it.AuditID] = i
			}
		}
	}
	var events []*auditkeep.Event
	var index []int
	for i, it := range list.Items {
		if j, ok := final[it.AuditID]; !ok || j != i {
			continue
		}
		for _, early := range list.Items {
			if early.AuditID == it.AuditID {
				fold(&it, early)
			}
		}
		e, err := mapOne(it, fmt.Sprintf("items[%d]", i), hash)
		if err != nil {
			return nil, nil, err
		}
		events = append(events, e)
		index = append(index, i)
	}
	return events, index, nil
}

// fold fills what e lacks from another stage of the same request.
func fold(e *Event, other Event) {
	if e.RequestObject == nil {
		e.RequestObject = other.RequestObject
	}
	if e.ResponseObject == nil {
		e.ResponseObject = other.ResponseObject
	}
	if e.ObjectRef == nil {
		e.ObjectRef = other.ObjectRef
	}
	if len(e.SourceIPs) == 0 {
		e.SourceIPs = other.SourceIPs
	}
	if e.UserAgent == "" {
		e.UserAgent = other.UserAgent
	}
	if e.RequestReceivedTimestamp == "" {
		e.RequestReceivedTimestamp = other.RequestReceivedTimestamp
	}
	for k, v := range other.Annotations {
		if _, ok := e.Annotations[k]; !ok {
			if e.Annotations == nil {
				e.Annotations = map[string]string{}
			}
			e.Annotations[k] = v
		}
	}
}

func mapOne(it Event, field string, hash Hash) (*auditkeep.Event, error) {
	e := &auditkeep.Event{ID: compat.ID("k8s", it.AuditID), Source: "kubernetes", Status: auditkeep.StatusSuccess}
	at := it.RequestReceivedTimestamp
	name := ".requestReceivedTimestamp"
	if at == "" {
		at, name = it.StageTimestamp, ".stageTimestamp"
	}
	if at != "" {
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			return nil, auditkeep.FieldErrorf(field+name, "%s%s %q is not an RFC 3339 time", field, name, at)
		}
		e.OccurredAt = t.UTC()
	}

	verb := strings.ToLower(it.Verb)
	ref := it.ObjectRef
	if ref != nil && ref.Resource != "" {
		e.Action = "k8s." + strings.ToLower(ref.Resource)
		if ref.Subresource != "" {
			e.Action += "." + strings.ToLower(ref.Subresource)
		}
		e.Action += "." + verb
	} else {
		e.Action = "k8s.nonresource." + verb // /healthz, /version, /apis
	}
	e.Type = typeOf(verb, ref)

	// actor
	u := it.User
	e.Actor = auditkeep.Actor{Type: auditkeep.ActorUser, ID: u.Username, Name: u.Username}
	switch {
	case strings.HasPrefix(u.Username, "system:serviceaccount:"):
		e.Actor.Type = auditkeep.ActorService
	case u.Username == "system:anonymous":
	case strings.HasPrefix(u.Username, "system:"):
		e.Actor.Type = auditkeep.ActorSystem
	}
	if e.Actor.ID == "" {
		e.Actor = auditkeep.Actor{Type: auditkeep.ActorSystem, ID: "system:unknown"}
	}
	if strings.Contains(u.Username, "@") && !strings.ContainsAny(u.Username, " <>\"") && strings.Count(u.Username, "@") == 1 {
		e.Actor.Email = u.Username
	}

	// target and scope
	snapshot := object(it.ResponseObject)
	if ref != nil && ref.Resource != "" {
		objName := ref.Name
		if objName == "" && snapshot != nil {
			objName = snapshot.name() // a created object's generated name
		}
		if objName != "" {
			id := objName
			if ref.Namespace != "" {
				id = ref.Namespace + "/" + objName
			}
			e.Target = &auditkeep.Target{Type: strings.ToLower(ref.Resource), ID: id, Name: objName}
		}
		if ref.Namespace != "" {
			e.Scope = append(e.Scope, auditkeep.ScopeEntry{Type: "namespace", ID: ref.Namespace})
		}
		group := ref.APIGroup
		if group == "" {
			group = "core"
		}
		e.Scope = append(e.Scope, auditkeep.ScopeEntry{Type: "api_group", ID: group})
	}

	if len(it.SourceIPs) > 0 {
		e.Context.IP = it.SourceIPs[0]
	}
	e.Context.UserAgent = truncate(it.UserAgent, maxUserAgent)

	md := map[string]any{"level": it.Level, "stage": it.Stage, "requestURI": it.RequestURI, "verb": it.Verb}
	if it.Stage == StagePanic {
		e.Status = auditkeep.StatusFailure
	}
	if s := it.ResponseStatus; s != nil {
		md["responseStatus"] = s
		if s.Code >= 400 || s.Status == "Failure" {
			e.Status = auditkeep.StatusFailure
		}
		if s.Message != "" {
			e.Description = truncate(fmt.Sprintf("%s %s: %d %s", it.Verb, it.RequestURI, s.Code, s.Message), 1024)
		}
	}
	if u.UID != "" || len(u.Groups) > 0 || len(u.Extra) > 0 {
		md["user"] = u
	}
	if it.ImpersonatedUser != nil {
		md["impersonatedUser"] = it.ImpersonatedUser
	}
	if it.AuthenticationMetadata != nil {
		md["authenticationMetadata"] = it.AuthenticationMetadata
	}
	if len(it.SourceIPs) > 1 {
		md["sourceIPs"] = it.SourceIPs
	}
	if ref != nil {
		md["objectRef"] = ref
	}
	if len(it.Annotations) > 0 {
		md["annotations"] = it.Annotations
	}

	secret := ref != nil && ref.APIGroup == "" && ref.Resource == "secrets"
	// snapshot: the object as the API server answered; a patch's request
	// is its changes.
	if snapshot != nil && snapshot.kind() != "Status" && !strings.HasSuffix(snapshot.kind(), "List") && e.Type != auditkeep.TypeRead {
		if secret {
			if err := snapshot.hideSecret(hash); err != nil {
				return nil, err
			}
		}
		snapshot.dropManagedFields()
		e.Snapshot, _ = json.Marshal(snapshot)
	}
	if verb == "patch" {
		if patch := object(it.RequestObject); patch != nil {
			if secret {
				if err := patch.hideSecret(hash); err != nil {
					return nil, err
				}
			}
			e.Changes = patchChanges(patch)
		}
	}
	if e.Type == auditkeep.TypeCreate || e.Type == auditkeep.TypeDelete {
		e.Changes = nil // create and delete: the snapshot says it all
	}
	var err error
	if e.Metadata, err = json.Marshal(md); err != nil {
		return nil, err
	}
	if b, _ := json.Marshal(e); len(b) > maxEventBytes {
		e.Snapshot, e.Changes = nil, nil
		md["snapshot_omitted"] = "the object is too large to keep"
		e.Metadata, _ = json.Marshal(md)
	}
	return e, nil
}

// typeOf maps a verb (and the connect subresources) onto an event type.
func typeOf(verb string, ref *ObjectReference) string {
	if ref != nil && slices.Contains([]string{"exec", "attach", "portforward", "proxy"}, ref.Subresource) {
		return auditkeep.TypeExecute
	}
	switch verb {
	case "create":
		return auditkeep.TypeCreate
	case "get", "list", "watch", "head":
		return auditkeep.TypeRead
	case "update", "patch":
		return auditkeep.TypeUpdate
	case "delete", "deletecollection":
		return auditkeep.TypeDelete
	}
	return auditkeep.TypeExecute // impersonate, bind, escalate, approve, …
}

// obj is a Kubernetes object as JSON.
type obj map[string]json.RawMessage

func object(raw json.RawMessage) obj {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	var o obj
	if json.Unmarshal(raw, &o) != nil {
		return nil
	}
	return o
}

func (o obj) kind() string {
	var k string
	_ = json.Unmarshal(o["kind"], &k)
	return k
}

// dropManagedFields leaves out metadata.managedFields: the server's
// bookkeeping of who set which field, larger than most objects.
func (o obj) dropManagedFields() {
	var meta map[string]json.RawMessage
	if json.Unmarshal(o["metadata"], &meta) != nil || meta == nil {
		return
	}
	if _, ok := meta["managedFields"]; ok {
		delete(meta, "managedFields")
		o["metadata"], _ = json.Marshal(meta)
	}
}

func (o obj) name() string {
	var m struct{ Name string }
	_ = json.Unmarshal(o["metadata"], &m)
	return m.Name
}

// hideSecret replaces each value of a Secret's data and stringData, and
// its last-applied-configuration annotation (which holds them too), by
// its keyed hash.
func (o obj) hideSecret(hash Hash) error {
	for _, k := range []string{"data", "stringData"} {
		var m map[string]json.RawMessage
		if json.Unmarshal(o[k], &m) != nil || m == nil {
			continue
		}
		for key, v := range m {
			h, err := hash(v)
			if err != nil {
				return err
			}
			m[key], _ = json.Marshal(h)
		}
		o[k], _ = json.Marshal(m)
	}
	var meta map[string]json.RawMessage
	if json.Unmarshal(o["metadata"], &meta) == nil && meta != nil {
		var ann map[string]json.RawMessage
		if json.Unmarshal(meta["annotations"], &ann) == nil && ann != nil {
			const last = "kubectl.kubernetes.io/last-applied-configuration"
			if v, ok := ann[last]; ok {
				h, err := hash(v)
				if err != nil {
					return err
				}
				ann[last], _ = json.Marshal(h)
				meta["annotations"], _ = json.Marshal(ann)
				o["metadata"], _ = json.Marshal(meta)
			}
		}
	}
	return nil
}

// patchChanges lists a merge or strategic merge patch's leaves as changes
// (null: removed), at most 100, strategic-merge directives left out.
func patchChanges(patch obj) []auditkeep.Change {
	var out []auditkeep.Change
	var walk func(path string, m map[string]json.RawMessage)
	walk = func(path string, m map[string]json.RawMessage) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if strings.HasPrefix(k, "$") || len(out) >= 100 {
				continue
			}
			p := k
			if path != "" {
				p = path + "." + k
			}
			v := bytes.TrimSpace(m[k])
			var sub map[string]json.RawMessage
			if len(v) > 0 && v[0] == '{' && json.Unmarshal(v, &sub) == nil && len(sub) > 0 {
				walk(p, sub)
				continue
			}
			if string(v) == "null" {
				out = append(out, auditkeep.Change{Field: p, Op: auditkeep.ChangeRemoved})
				continue
			}
			out = append(out, auditkeep.Change{Field: p, Op: auditkeep.ChangeChanged, New: json.RawMessage(v)})
		}
	}
	walk("", patch)
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// Names renames auditkeep's event fields to the audit event's in an ingest
// error (compat.Rename).
var Names = map[string]string{
	"id":                 "auditID",
	"occurred_at":        "requestReceivedTimestamp",
	"action":             "objectRef.resource",
	"actor":              "user.username",
	"target":             "objectRef",
	"scope":              "objectRef",
	"context.ip":         "sourceIPs[0]",
	"context.user_agent": "userAgent",
	"snapshot":           "responseObject",
	"changes":            "requestObject",
	"metadata":           "",
}
