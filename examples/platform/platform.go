package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/client"
)

// Project, Environment, Service and Token are the platform's resources, as
// its API shows them.
type Project struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

type Environment struct {
	ID        string    `json:"id"`
	ProjectID string    `json:"project_id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

type Service struct {
	ID        string    `json:"id"`
	ProjectID string    `json:"project_id"`
	Name      string    `json:"name"`
	Image     string    `json:"image"`
	Replicas  int       `json:"replicas"`
	CreatedAt time.Time `json:"created_at"`
}

// Variables are an environment's variables as the API shows them:
// {"environment_id": "env_1", "variables": {"NAME": {"value": "…"}}}.
type Variables struct {
	EnvironmentID string              `json:"environment_id"`
	Variables     map[string]Variable `json:"variables"`
}

type Variable struct {
	Value     string    `json:"value"`
	UpdatedAt time.Time `json:"updated_at"`
}

type Token struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	Secret    string    `json:"token,omitempty"` // shown once, when created
	OwnerID   string    `json:"owner_id"`
}

// User is a person who signs in with a bearer token.
type User struct {
	ID, Name, Email, Token string
}

// platform is an in-memory cloud platform: projects with environments
// (and their variables) and services, and API tokens.
type platform struct {
	mu       sync.Mutex
	next     map[string]int
	users    []User
	projects map[string]*Project
	envs     map[string]*Environment
	vars     map[string]map[string]Variable // by environment id
	services map[string]*Service
	tokens   map[string]*Token // by id
	now      func() time.Time
}

func newPlatform(users ...User) *platform {
	return &platform{
		next:     map[string]int{},
		users:    users,
		projects: map[string]*Project{},
		envs:     map[string]*Environment{},
		vars:     map[string]map[string]Variable{},
		services: map[string]*Service{},
		tokens:   map[string]*Token{},
		now:      func() time.Time { return time.Now().UTC().Truncate(time.Millisecond) },
	}
}

func (p *platform) newID(prefix string) string {
	p.next[prefix]++
	return fmt.Sprintf("%s_%d", prefix, p.next[prefix])
}

// handler is the platform's API: authentication outside, the audit
// middleware around the routes, so that it knows the actor and the route.
func (p *platform) handler(rec *client.Recorder, opts client.MiddlewareOptions) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /projects", p.listProjects)
	mux.HandleFunc("POST /projects", p.createProject)
	mux.HandleFunc("GET /projects/{project}", p.getProject)
	mux.HandleFunc("PATCH /projects/{project}", p.updateProject)
	mux.HandleFunc("DELETE /projects/{project}", p.deleteProject)
	mux.HandleFunc("POST /projects/{project}/environments", p.createEnvironment)
	mux.HandleFunc("PUT /projects/{project}/environments/{env}", p.updateEnvironment)
	mux.HandleFunc("DELETE /projects/{project}/environments/{env}", p.deleteEnvironment)
	mux.HandleFunc("GET /projects/{project}/environments/{env}/variables", p.listVariables)
	mux.HandleFunc("PUT /projects/{project}/environments/{env}/variables/{name}", p.setVariable)
	mux.HandleFunc("DELETE /projects/{project}/environments/{env}/variables/{name}", p.deleteVariable)
	mux.HandleFunc("POST /projects/{project}/services", p.createService)
	mux.HandleFunc("PATCH /projects/{project}/services/{service}", p.updateService)
	mux.HandleFunc("DELETE /projects/{project}/services/{service}", p.deleteService)
	mux.HandleFunc("POST /projects/{project}/services/{service}/restart", p.restartService)
	mux.HandleFunc("POST /tokens", p.createToken)
	mux.HandleFunc("DELETE /tokens/{token}", p.deleteToken)

	opts.Actor = actorOf
	return p.authenticate(client.Middleware(rec, opts)(mux))
}

type actorKey struct{}

// actorOf is the audit middleware's Actor: who authenticate found.
func actorOf(r *http.Request) auditkeep.Actor {
	a, _ := r.Context().Value(actorKey{}).(auditkeep.Actor)
	return a
}

// authenticate accepts a user's token or an API token as a bearer token.
func (p *platform) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || secret == "" {
			writeError(w, http.StatusUnauthorized, "a bearer token is required")
			return
		}
		var actor auditkeep.Actor
		for _, u := range p.users {
			if subtle.ConstantTimeCompare([]byte(u.Token), []byte(secret)) == 1 {
				actor = auditkeep.Actor{Type: auditkeep.ActorUser, ID: u.ID, Name: u.Name, Email: u.Email}
			}
		}
		if actor.ID == "" {
			p.mu.Lock()
			for _, t := range p.tokens {
				if subtle.ConstantTimeCompare([]byte(t.Secret), []byte(secret)) == 1 {
					actor = auditkeep.Actor{Type: auditkeep.ActorAPIToken, ID: t.ID, Name: t.Name}
				}
			}
			p.mu.Unlock()
		}
		if actor.ID == "" {
			writeError(w, http.StatusUnauthorized, "unknown token")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, actor)))
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"message": msg}})
}

// decode reads a JSON body into v, answering 400 when it cannot.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

func validName(w http.ResponseWriter, name string) bool {
	if strings.TrimSpace(name) == "" || len(name) > 100 {
		writeError(w, http.StatusBadRequest, "name must be 1 to 100 characters")
		return false
	}
	return true
}

// snapshot tells the audit middleware the state of the object a handler is
// about to delete: the event keeps its name and its last state.
func snapshot(r *http.Request, name string, before any) {
	b, err := json.Marshal(before)
	client.Annotate(r.Context(), func(e *auditkeep.Event) {
		if e.Target != nil {
			e.Target.Name = name
		}
		if err == nil && e.Status == auditkeep.StatusSuccess {
			e.Before = b
		}
	})
}

func (p *platform) project(w http.ResponseWriter, r *http.Request) (*Project, bool) {
	pr, ok := p.projects[r.PathValue("project")]
	if !ok {
		writeError(w, http.StatusNotFound, "no such project")
	}
	return pr, ok
}

func (p *platform) environment(w http.ResponseWriter, r *http.Request) (*Environment, bool) {
	pr, ok := p.project(w, r)
	if !ok {
		return nil, false
	}
	env, ok := p.envs[r.PathValue("env")]
	if !ok || env.ProjectID != pr.ID {
		writeError(w, http.StatusNotFound, "no such environment")
		return nil, false
	}
	return env, true
}

func (p *platform) service(w http.ResponseWriter, r *http.Request) (*Service, bool) {
	pr, ok := p.project(w, r)
	if !ok {
		return nil, false
	}
	s, ok := p.services[r.PathValue("service")]
	if !ok || s.ProjectID != pr.ID {
		writeError(w, http.StatusNotFound, "no such service")
		return nil, false
	}
	return s, true
}

func (p *platform) listProjects(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := make([]*Project, 0, len(p.projects))
	for _, pr := range p.projects {
		list = append(list, pr)
	}
	slices.SortFunc(list, func(a, b *Project) int { return strings.Compare(a.ID, b.ID) })
	writeJSON(w, http.StatusOK, map[string]any{"projects": list})
}

func (p *platform) createProject(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
	}
	if !decode(w, r, &in) || !validName(w, in.Name) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	pr := &Project{ID: p.newID("prj"), Name: in.Name, CreatedAt: p.now()}
	p.projects[pr.ID] = pr
	writeJSON(w, http.StatusCreated, pr)
}

func (p *platform) getProject(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pr, ok := p.project(w, r); ok {
		writeJSON(w, http.StatusOK, pr)
	}
}

func (p *platform) updateProject(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
	}
	if !decode(w, r, &in) || !validName(w, in.Name) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if pr, ok := p.project(w, r); ok {
		pr.Name = in.Name
		writeJSON(w, http.StatusOK, pr)
	}
}

func (p *platform) deleteProject(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pr, ok := p.project(w, r)
	if !ok {
		return
	}
	for _, e := range p.envs {
		if e.ProjectID == pr.ID {
			writeError(w, http.StatusConflict, "the project still has environments")
			return
		}
	}
	snapshot(r, pr.Name, pr)
	delete(p.projects, pr.ID)
	w.WriteHeader(http.StatusNoContent)
}

func (p *platform) createEnvironment(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
	}
	if !decode(w, r, &in) || !validName(w, in.Name) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	pr, ok := p.project(w, r)
	if !ok {
		return
	}
	for _, e := range p.envs {
		if e.ProjectID == pr.ID && e.Name == in.Name {
			writeError(w, http.StatusConflict, "an environment of that name exists")
			return
		}
	}
	env := &Environment{ID: p.newID("env"), ProjectID: pr.ID, Name: in.Name, CreatedAt: p.now()}
	p.envs[env.ID] = env
	writeJSON(w, http.StatusCreated, env)
}

func (p *platform) updateEnvironment(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
	}
	if !decode(w, r, &in) || !validName(w, in.Name) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if env, ok := p.environment(w, r); ok {
		env.Name = in.Name
		writeJSON(w, http.StatusOK, env)
	}
}

func (p *platform) deleteEnvironment(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	env, ok := p.environment(w, r)
	if !ok {
		return
	}
	snapshot(r, env.Name, env)
	delete(p.envs, env.ID)
	delete(p.vars, env.ID)
	w.WriteHeader(http.StatusNoContent)
}

func (p *platform) variables(env *Environment) Variables {
	return Variables{EnvironmentID: env.ID, Variables: p.vars[env.ID]}
}

func (p *platform) listVariables(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if env, ok := p.environment(w, r); ok {
		writeJSON(w, http.StatusOK, p.variables(env))
	}
}

// setVariable sets one variable and answers with the environment's
// variables, values included, as platforms commonly do. The audit log gets
// them redacted: auditkeep's default rules cover variables.*.value.
func (p *platform) setVariable(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Value string `json:"value"`
	}
	if !decode(w, r, &in) {
		return
	}
	name := r.PathValue("name")
	if name == "" || len(name) > 128 || strings.ContainsAny(name, "= \t\n") {
		writeError(w, http.StatusBadRequest, "invalid variable name")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	env, ok := p.environment(w, r)
	if !ok {
		return
	}
	if p.vars[env.ID] == nil {
		p.vars[env.ID] = map[string]Variable{}
	}
	p.vars[env.ID][name] = Variable{Value: in.Value, UpdatedAt: p.now()}
	writeJSON(w, http.StatusOK, p.variables(env))
}

func (p *platform) deleteVariable(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	env, ok := p.environment(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	if _, ok := p.vars[env.ID][name]; !ok {
		writeError(w, http.StatusNotFound, "no such variable")
		return
	}
	delete(p.vars[env.ID], name)
	w.WriteHeader(http.StatusNoContent)
}

func (p *platform) createService(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name     string `json:"name"`
		Image    string `json:"image"`
		Replicas int    `json:"replicas"`
	}
	if !decode(w, r, &in) || !validName(w, in.Name) {
		return
	}
	if in.Replicas <= 0 {
		in.Replicas = 1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	pr, ok := p.project(w, r)
	if !ok {
		return
	}
	s := &Service{ID: p.newID("svc"), ProjectID: pr.ID, Name: in.Name, Image: in.Image, Replicas: in.Replicas, CreatedAt: p.now()}
	p.services[s.ID] = s
	writeJSON(w, http.StatusCreated, s)
}

func (p *platform) updateService(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Image    *string `json:"image"`
		Replicas *int    `json:"replicas"`
	}
	if !decode(w, r, &in) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.service(w, r)
	if !ok {
		return
	}
	if in.Image != nil {
		s.Image = *in.Image
	}
	if in.Replicas != nil {
		if *in.Replicas < 0 || *in.Replicas > 100 {
			writeError(w, http.StatusBadRequest, "replicas must be 0 to 100")
			return
		}
		s.Replicas = *in.Replicas
	}
	writeJSON(w, http.StatusOK, s)
}

func (p *platform) deleteService(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.service(w, r)
	if !ok {
		return
	}
	snapshot(r, s.Name, s)
	delete(p.services, s.ID)
	w.WriteHeader(http.StatusNoContent)
}

func (p *platform) restartService(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.service(w, r)
	if !ok {
		return
	}
	client.Annotate(r.Context(), func(e *auditkeep.Event) { e.Target.Name = s.Name })
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "restarting"})
}

// createToken creates an API token and shows its secret once. The audit log
// gets the secret redacted: auditkeep's default rules cover *token.
func (p *platform) createToken(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
	}
	if !decode(w, r, &in) || !validName(w, in.Name) {
		return
	}
	b := make([]byte, 24)
	rand.Read(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	t := &Token{ID: p.newID("tok"), Name: in.Name, CreatedAt: p.now(), Secret: "pk_" + hex.EncodeToString(b), OwnerID: actorOf(r).ID}
	p.tokens[t.ID] = t
	writeJSON(w, http.StatusCreated, t)
}

func (p *platform) deleteToken(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.tokens[r.PathValue("token")]
	if !ok {
		writeError(w, http.StatusNotFound, "no such token")
		return
	}
	shown := *t
	shown.Secret = ""
	snapshot(r, t.Name, shown)
	delete(p.tokens, t.ID)
	w.WriteHeader(http.StatusNoContent)
}
