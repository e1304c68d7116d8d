package format

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/auditkeep/auditkeep"
)

// OCSFVersion is the OCSF schema version the ocsf format writes.
const OCSFVersion = "1.3.0"

// ocsf writes an event as one OCSF event of one of three classes: a login
// or logout is Authentication (3002); a change to an account (the target
// is a user, account, member or service account) is Account Change (3001);
// anything else is API Activity (6003). type_uid is class_uid × 100 +
// activity_id. The stream's fields are under unmapped.auditkeep.
type ocsf struct{}

func init() { formats["ocsf"] = ocsf{} }

func (ocsf) Name() string { return "ocsf" }

type ocsfEvent struct {
	ActivityID   int    `json:"activity_id"`
	ActivityName string `json:"activity_name"`
	CategoryUID  int    `json:"category_uid"`
	CategoryName string `json:"category_name"`
	ClassUID     int    `json:"class_uid"`
	ClassName    string `json:"class_name"`
	TypeUID      int    `json:"type_uid"`
	TypeName     string `json:"type_name"`
	SeverityID   int    `json:"severity_id"`
	Severity     string `json:"severity"`
	StatusID     int    `json:"status_id"`
	Status       string `json:"status"`
	Time         int64  `json:"time"`
	Message      string `json:"message,omitempty"`

	Metadata    ocsfMetadata   `json:"metadata"`
	Actor       ocsfActor      `json:"actor"`
	User        *ocsfUser      `json:"user,omitempty"`
	API         *ocsfAPI       `json:"api,omitempty"`
	Resources   []ocsfResource `json:"resources,omitempty"`
	SrcEndpoint *ocsfEndpoint  `json:"src_endpoint,omitempty"`
	HTTPRequest *ocsfHTTP      `json:"http_request,omitempty"`
	Unmapped    ocsfUnmapped   `json:"unmapped"`
}

type ocsfMetadata struct {
	Version    string      `json:"version"`
	Product    ocsfProduct `json:"product"`
	UID        string      `json:"uid"`
	TenantUID  string      `json:"tenant_uid"`
	Sequence   int64       `json:"sequence"`
	LoggedTime int64       `json:"logged_time"`
	Labels     []string    `json:"labels,omitempty"`
}

type ocsfProduct struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
}

type ocsfActor struct {
	User ocsfUser `json:"user"`
}

type ocsfUser struct {
	UID      string `json:"uid"`
	Name     string `json:"name,omitempty"`
	EmailStr string `json:"email_addr,omitempty"`
	TypeID   int    `json:"type_id"`
	Type     string `json:"type"`
}

type ocsfAPI struct {
	Operation string `json:"operation"`
}

type ocsfResource struct {
	UID  string `json:"uid"`
	Name string `json:"name,omitempty"`
	Type string `json:"type"`
}

type ocsfEndpoint struct {
	IP string `json:"ip"`
}

type ocsfHTTP struct {
	UserAgent string `json:"user_agent"`
}

type ocsfUnmapped struct {
	Auditkeep ocsfAuditkeep `json:"auditkeep"`
}

type ocsfAuditkeep struct {
	Fields
	Type        string                 `json:"type"`
	Source      string                 `json:"source,omitempty"`
	Team        string                 `json:"team,omitempty"`
	Scope       []auditkeep.ScopeEntry `json:"scope,omitempty"`
	Target      *auditkeep.Target      `json:"target,omitempty"`
	Description string                 `json:"description,omitempty"`
	Changes     []auditkeep.Change     `json:"changes,omitempty"`
}

func (ocsf) Encode(r Record) ([]byte, error) {
	e := r.Event
	if e == nil {
		return nil, fmt.Errorf("format: ocsf: record without an event")
	}
	o := ocsfEvent{
		SeverityID: 1, Severity: "Informational",
		StatusID: 1, Status: "Success",
		Time:    millis(e.OccurredAt),
		Message: e.Description,
		Metadata: ocsfMetadata{
			Version: OCSFVersion, Product: ocsfProduct{Name: Product, VendorName: Product},
			UID: e.ID, TenantUID: e.Tenant, Sequence: e.Seq, LoggedTime: millis(e.ReceivedAt),
		},
		Actor: ocsfActor{User: ocsfUserOf(e.Actor)},
		Unmapped: ocsfUnmapped{Auditkeep: ocsfAuditkeep{
			Fields: FieldsOf(r), Type: e.Type, Source: e.Source, Team: e.Team, Scope: e.Scope,
			Target: e.Target, Description: e.Description, Changes: e.Changes,
		}},
	}
	if e.Status == auditkeep.StatusFailure {
		o.StatusID, o.Status = 2, "Failure"
	}
	if r.Test {
		o.Metadata.Labels = []string{"test"}
	}
	if e.Context.IP != "" {
		o.SrcEndpoint = &ocsfEndpoint{IP: e.Context.IP}
	}
	if e.Context.UserAgent != "" {
		o.HTTPRequest = &ocsfHTTP{UserAgent: e.Context.UserAgent}
	}
	switch {
	case e.Type == auditkeep.TypeLogin || e.Type == auditkeep.TypeLogout:
		o.CategoryUID, o.CategoryName = 3, "Identity & Access Management"
		o.ClassUID, o.ClassName = 3002, "Authentication"
		o.ActivityID, o.ActivityName = 1, "Logon"
		if e.Type == auditkeep.TypeLogout {
			o.ActivityID, o.ActivityName = 2, "Logoff"
		}
		u := o.Actor.User
		o.User = &u
	case e.Target != nil && isAccount(e.Target.Type):
		o.CategoryUID, o.CategoryName = 3, "Identity & Access Management"
		o.ClassUID, o.ClassName = 3001, "Account Change"
		o.ActivityID, o.ActivityName = accountActivity(e)
		o.User = &ocsfUser{UID: e.Target.ID, Name: e.Target.Name, TypeID: 1, Type: "User"}
	default:
		o.CategoryUID, o.CategoryName = 6, "Application Activity"
		o.ClassUID, o.ClassName = 6003, "API Activity"
		o.ActivityID, o.ActivityName = apiActivity(e.Type)
		o.API = &ocsfAPI{Operation: e.Action}
		if e.Target != nil {
			o.Resources = []ocsfResource{{UID: e.Target.ID, Name: e.Target.Name, Type: e.Target.Type}}
		}
	}
	o.TypeUID = o.ClassUID*100 + o.ActivityID
	o.TypeName = o.ClassName + ": " + o.ActivityName
	js, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("format: ocsf: %w", err)
	}
	return js, nil
}

func ocsfUserOf(a auditkeep.Actor) ocsfUser {
	u := ocsfUser{UID: a.ID, Name: a.Name, EmailStr: a.Email}
	switch a.Type {
	case auditkeep.ActorUser:
		u.TypeID, u.Type = 1, "User"
	case auditkeep.ActorSystem:
		u.TypeID, u.Type = 3, "System"
	case auditkeep.ActorAPIToken:
		u.TypeID, u.Type = 99, "API Token"
	default:
		u.TypeID, u.Type = 99, "Service"
	}
	return u
}

// apiActivity is API Activity's activity for an event type.
func apiActivity(typ string) (int, string) {
	switch typ {
	case auditkeep.TypeCreate:
		return 1, "Create"
	case auditkeep.TypeRead:
		return 2, "Read"
	case auditkeep.TypeUpdate:
		return 3, "Update"
	case auditkeep.TypeDelete:
		return 4, "Delete"
	case auditkeep.TypeExecute:
		return 99, "Execute"
	}
	return 99, "Other"
}

// accountActivity is Account Change's activity for an event: its type for
// creations and deletions, else the words of its action.
func accountActivity(e *auditkeep.Event) (int, string) {
	switch e.Type {
	case auditkeep.TypeCreate:
		return 1, "Create"
	case auditkeep.TypeDelete:
		return 6, "Delete"
	}
	a := strings.ToLower(e.Action)
	switch {
	case strings.Contains(a, "mfa") && strings.Contains(a, "disable"):
		return 11, "MFA Factor Disable"
	case strings.Contains(a, "mfa") && strings.Contains(a, "enable"):
		return 10, "MFA Factor Enable"
	case strings.Contains(a, "password") && strings.Contains(a, "reset"):
		return 4, "Password Reset"
	case strings.Contains(a, "password"):
		return 3, "Password Change"
	case strings.Contains(a, "unlock"):
		return 99, "Other"
	case strings.Contains(a, "lock"):
		return 9, "Lock"
	case strings.Contains(a, "disable") || strings.Contains(a, "deactivate") || strings.Contains(a, "suspend"):
		return 5, "Disable"
	case strings.Contains(a, "enable") || strings.Contains(a, "activate"):
		return 2, "Enable"
	}
	return 99, "Other"
}
