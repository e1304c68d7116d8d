package demo

import (
	"bytes"
	"strconv"
	"time"

	"github.com/auditkeep/auditkeep"
)

// action emits one or more events, or returns false when it does not apply
// to the organization as it is (nothing to delete, not allowed).
type action func(g *Generator) bool

type weighted struct {
	w float64
	a action
}

var userActions = []weighted{
	{30, (*Generator).deployService},
	{7, (*Generator).deployEnvironment},
	{14, (*Generator).updateService},
	{10, (*Generator).changeVariable},
	{3, (*Generator).createService},
	{1.5, (*Generator).deleteService},
	{4, (*Generator).updateEnvironment},
	{2, (*Generator).createEnvironment},
	{1.2, (*Generator).deleteEnvironment},
	{0.6, (*Generator).createProject},
	{0.3, (*Generator).deleteProject},
	{1, (*Generator).updateProject},
	{5, (*Generator).machineAction},
	{1.5, (*Generator).createMachine},
	{1, (*Generator).deleteMachine},
	{5, (*Generator).modelAction},
	{1.5, (*Generator).memberAction},
	{1.2, (*Generator).tokenAction},
	{0.8, (*Generator).sshKeyAction},
	{1, (*Generator).clusterAction},
	{2, (*Generator).readAction},
}

var tokenActions = map[string][]weighted{
	"terraform": {
		{10, (*Generator).updateService}, {8, (*Generator).changeVariable}, {2, (*Generator).createEnvironment},
		{3, (*Generator).updateEnvironment}, {2, (*Generator).createService}, {1, (*Generator).clusterAction},
		{0.5, (*Generator).deleteService}, {0.5, (*Generator).createProject},
	},
	"api": {
		{20, (*Generator).deployService}, {5, (*Generator).deployEnvironment}, {5, (*Generator).machineAction},
		{5, (*Generator).modelAction}, {3, (*Generator).changeVariable}, {1, (*Generator).deleteEnvironment},
		{1, (*Generator).createEnvironment},
	},
	"cli": {
		{10, (*Generator).deployService}, {4, (*Generator).changeVariable}, {3, (*Generator).machineAction},
		{2, (*Generator).deployEnvironment},
	},
}

var readOnlyActions = []weighted{{3, (*Generator).readAction}, {1, (*Generator).forbiddenAttempt}}

// act emits the session's next action.
func (g *Generator) act() {
	s := &g.sess
	switch s.kind {
	case sessSystem:
		g.systemAction()
		return
	case sessGit:
		if !g.deployService() {
			g.deployEnvironment()
		}
		return
	case sessAttack:
		g.login("user.login", auditkeep.TypeLogin, auditkeep.StatusFailure, pick(g, failReasons))
		return
	}
	list := userActions
	if s.t != nil {
		list = tokenActions[s.t.source]
	} else if s.u.role == "viewer" || s.u.role == "billing_manager" {
		list = readOnlyActions
	}
	for range 10 {
		if g.pickAction(list)(g) {
			return
		}
	}
	g.deployService()
}

func (g *Generator) pickAction(list []weighted) action {
	var total float64
	for _, w := range list {
		total += w.w
	}
	x := g.r.Float64() * total
	for _, w := range list {
		if x < w.w {
			return w.a
		}
		x -= w.w
	}
	return list[len(list)-1].a
}

// admin reports whether the session's actor may manage members and tokens.
func (g *Generator) admin() bool {
	if g.sess.t != nil {
		return g.sess.t.role == "admin"
	}
	return g.sess.u != nil && (g.sess.u.role == "owner" || g.sess.u.role == "admin")
}

// Picking objects. Each returns false when there is none.

func (g *Generator) anyProject() *project { return pick(g, g.projects) }

func (g *Generator) anyEnv() (*project, *environment) {
	p := g.anyProject()
	return p, pick(g, p.envs)
}

func (g *Generator) anyService() (*project, *environment, *service) {
	p, e := g.anyEnv()
	return p, e, pick(g, e.services)
}

// deployable picks an application or job (what a git push deploys), or any service.
func (g *Generator) deployable() (*project, *environment, *service) {
	for range 4 {
		p, e, s := g.anyService()
		if s.kind == "application" || s.kind == "job" || g.sess.kind != sessGit {
			return p, e, s
		}
	}
	return g.anyService()
}

// Snapshots: the object's state after the action, as the platform's API returns it.

func (g *Generator) snapService(p *project, e *environment, s *service) []byte {
	w := &g.w
	w.reset()
	w.open()
	w.str("id", s.id)
	w.str("name", s.name)
	w.str("kind", s.kind)
	w.str("project_id", p.id)
	w.str("environment_id", e.id)
	w.num("cpu", s.cpu)
	w.num("memory", s.memory)
	w.num("min_running_instances", s.minInst)
	w.num("max_running_instances", s.maxInst)
	w.boolean("auto_deploy", s.autoDeploy)
	if s.port != 0 {
		w.arr("ports")
		w.open()
		w.num("internal_port", s.port)
		w.num("external_port", 443)
		w.boolean("publicly_accessible", s.kind == "application")
		if s.kind == "database" {
			w.str("protocol", "TCP")
		} else {
			w.str("protocol", "HTTP")
		}
		w.close()
		w.end()
	}
	if s.branch != "" {
		w.obj("git_repository")
		w.str("url", "https://github.com/"+g.orgSlug+"/"+s.name+".git")
		w.str("branch", s.branch)
		w.str("commit_id", s.tag)
		w.close()
	} else {
		w.str("image_name", s.image)
		w.str("tag", s.tag)
	}
	if s.healthPath != "" {
		w.obj("healthchecks")
		w.obj("liveness_probe")
		w.str("type", "HTTP")
		w.str("path", s.healthPath)
		w.num("initial_delay_seconds", 30)
		w.close()
		w.close()
	}
	w.arr("environment_variables")
	for _, v := range s.vars {
		w.elem(v.key)
	}
	w.end()
	w.close()
	return w.raw()
}

func (g *Generator) snapEnv(p *project, e *environment) []byte {
	w := &g.w
	w.reset()
	w.open()
	w.str("id", e.id)
	w.str("name", e.name)
	w.str("mode", e.mode)
	w.str("project_id", p.id)
	if e.cluster != nil {
		w.str("cluster_id", e.cluster.id)
		w.str("cluster_name", e.cluster.name)
		w.str("region", e.cluster.region)
	}
	if e.running {
		w.str("status", "RUNNING")
	} else {
		w.str("status", "STOPPED")
	}
	w.arr("services")
	for _, s := range e.services {
		w.open()
		w.str("id", s.id)
		w.str("name", s.name)
		w.str("kind", s.kind)
		w.close()
	}
	w.end()
	w.obj("deployment_rule")
	w.boolean("auto_stop", e.mode != "PRODUCTION")
	w.str("timezone", "Europe/Paris")
	w.close()
	w.close()
	return w.raw()
}

func (g *Generator) snapProject(p *project) []byte {
	w := &g.w
	w.reset()
	w.open()
	w.str("id", p.id)
	w.str("name", p.name)
	w.optStr("description", p.description)
	w.arr("environments")
	for _, e := range p.envs {
		w.elem(e.id)
	}
	w.end()
	w.close()
	return w.raw()
}

func (g *Generator) snapVariable(v *variable, scope string) []byte {
	w := &g.w
	w.reset()
	w.open()
	w.str("id", v.id)
	w.str("key", v.key)
	w.str("value", v.value)
	w.str("scope", scope)
	w.boolean("is_secret", v.secret)
	w.close()
	return w.raw()
}

func (g *Generator) snapMember(u *user) []byte {
	w := &g.w
	w.reset()
	w.open()
	w.str("id", u.id)
	w.str("name", u.name)
	w.str("email", u.email)
	w.str("role", u.role)
	w.str("team", u.team)
	w.boolean("mfa_enabled", u.mfa)
	w.close()
	return w.raw()
}

func (g *Generator) snapToken(t *token) []byte {
	w := &g.w
	w.reset()
	w.open()
	w.str("id", t.id)
	w.str("name", t.name)
	w.str("role", t.role)
	w.str("created_by", t.owner.email)
	if t.expires > 0 {
		w.num("expires_in_days", t.expires)
	} else {
		w.null("expires_in_days")
	}
	w.close()
	return w.raw()
}

func (g *Generator) snapCluster(c *cluster) []byte {
	w := &g.w
	w.reset()
	w.open()
	w.str("id", c.id)
	w.str("name", c.name)
	w.str("cloud_provider", c.provider)
	w.str("region", c.region)
	w.str("instance_type", c.instanceType)
	w.str("kubernetes_version", c.version)
	w.num("min_running_nodes", c.minNodes)
	w.num("max_running_nodes", c.maxNodes)
	w.boolean("production", c.name == "production-eu")
	w.close()
	return w.raw()
}

func (g *Generator) snapModel(m *model) []byte {
	w := &g.w
	w.reset()
	w.open()
	w.str("id", m.id)
	w.str("name", m.name)
	w.str("description", m.description)
	w.str("input_type", m.inputType)
	w.str("output_type", m.outputType)
	w.str("labels", m.labels)
	w.arr("versions")
	for _, v := range m.versions {
		w.elem(v.name)
	}
	w.end()
	w.close()
	return w.raw()
}

func (g *Generator) snapVersion(m *model, v *version) []byte {
	w := &g.w
	w.reset()
	w.open()
	w.str("id", v.id)
	w.str("deployment", m.name)
	w.str("version", v.name)
	w.str("language", v.language)
	w.str("instance_type", v.instanceType)
	w.num("minimum_instances", v.minInst)
	w.num("maximum_instances", v.maxInst)
	w.num("maximum_idle_time", v.idleSeconds)
	w.str("request_retention_mode", v.retention)
	w.optStr("file_hash", v.fileHash)
	w.close()
	return w.raw()
}

func (g *Generator) snapMachine(m *machine) []byte {
	w := &g.w
	w.reset()
	w.open()
	w.str("id", m.id)
	w.str("name", m.name)
	w.str("type", m.kind)
	w.str("gpu_type", m.gpu)
	w.num("gpu_count", m.gpus)
	w.num("disk_gb", m.diskGB)
	w.str("image", m.image)
	w.str("status", m.status)
	w.close()
	return w.raw()
}

// Actions.

func (g *Generator) deployService() bool {
	p, e, s := g.deployable()
	action, typ := s.kind+".deploy", auditkeep.TypeExecute
	if g.sess.kind != sessGit && g.chance(0.2) {
		action = s.kind + ".restart"
	} else if s.branch != "" {
		s.tag = g.commit()
	}
	ev := g.event(action, typ, &auditkeep.Target{Type: s.kind, ID: s.id, Name: s.name}, serviceScope(p, e, s))
	failed := g.chance(0.04)
	w := &g.w
	w.reset()
	w.open()
	w.str("request_id", g.newID("req"))
	w.str("deployment_id", g.newID("dep"))
	if s.branch != "" {
		w.str("commit", s.tag)
		w.str("branch", s.branch)
	}
	if g.sess.kind == sessGit {
		w.str("repository", "github.com/"+g.orgSlug+"/"+s.name)
		w.str("pusher", g.sess.u.email)
	}
	if failed {
		w.str("error", pick(g, []string{"build failed: exit code 1", "health check failed after 300s", "image pull back-off", "insufficient cluster capacity"}))
	}
	w.close()
	ev.Metadata = w.raw()
	if failed {
		ev.Status = auditkeep.StatusFailure
	} else {
		ev.Snapshot = g.snapService(p, e, s)
	}
	if g.chance(0.1) {
		ref := s.tag
		if s.branch != "" {
			ref = s.branch + "@" + s.tag
		}
		ev.Description = "Deployed " + s.kind + " " + quote(s.name) + " (" + ref + ") to environment " + quote(e.name)
		if failed {
			ev.Description = "Deployment of " + s.kind + " " + quote(s.name) + " to environment " + quote(e.name) + " failed"
		}
	}
	g.emit(ev)
	return true
}

func (g *Generator) deployEnvironment() bool {
	p, e := g.anyEnv()
	action := "environment.deploy"
	switch x := g.r.IntN(10); {
	case x < 2 && e.running:
		action, e.running = "environment.stop", false
	case x < 4 && !e.running:
		action, e.running = "environment.start", true
	case x == 4:
		action = "environment.redeploy"
	default:
		e.running = true
	}
	ev := g.event(action, auditkeep.TypeExecute, &auditkeep.Target{Type: "environment", ID: e.id, Name: e.name}, envScope(p, e))
	ev.Snapshot = g.snapEnv(p, e)
	ev.Metadata = g.request("POST", "/api/environments/"+e.id+"/"+action[len("environment."):], 202)
	g.emit(ev)
	return true
}

func (g *Generator) updateService() bool {
	p, e, s := g.anyService()
	before, after := g.change(func() []byte { return g.snapService(p, e, s) }, func() { g.mutateService(s) })
	ev := g.event(s.kind+".update", auditkeep.TypeUpdate, &auditkeep.Target{Type: s.kind, ID: s.id, Name: s.name}, serviceScope(p, e, s))
	ev.Before, ev.Snapshot = before, after
	ev.Metadata = g.request("PUT", "/api/"+s.kind+"s/"+s.id, 200)
	g.emit(ev)
	return true
}

// change renders an object, mutates it until its rendering differs (an
// update that changes nothing is not one), and returns both renderings.
func (g *Generator) change(render func() []byte, mutate func()) (before, after []byte) {
	before = render()
	for range 64 { // until a mutation shows in the rendering
		mutate()
		if after = render(); !bytes.Equal(before, after) {
			break
		}
	}
	return before, after
}

func (g *Generator) mutateService(s *service) {
	for n := 1 + g.r.IntN(2); n > 0; n-- {
		switch g.r.IntN(7) {
		case 0:
			s.cpu = pick(g, []int{250, 500, 1000, 2000, 4000})
		case 1:
			s.memory = pick(g, []int{256, 512, 1024, 2048, 4096, 8192})
		case 2:
			if s.kind != "database" {
				s.maxInst = 1 + g.r.IntN(8)
				s.minInst = min(s.minInst, s.maxInst)
			}
		case 3:
			s.autoDeploy = !s.autoDeploy
		case 4:
			if s.branch != "" {
				s.branch = pick(g, branches)
			} else {
				s.tag = pick(g, []string{"1.27.3", "v2.55.0", "11.4.0", "17", "7.4.1", "latest"})
			}
		case 5:
			if s.port != 0 {
				s.port = pick(g, []int{3000, 8000, 8080, 80, 9000})
			}
		case 6:
			if s.healthPath != "" {
				s.healthPath = pick(g, []string{"/healthz", "/health", "/ready", "/api/status"})
			} else {
				s.minInst = min(s.maxInst, 1+g.r.IntN(2))
			}
		}
	}
}

func (g *Generator) changeVariable() bool {
	p, e, s := g.anyService()
	vars, scopeName := &s.vars, "APPLICATION"
	scope := serviceScope(p, e, s)
	switch g.r.IntN(6) {
	case 0:
		vars, scopeName, scope = &p.vars, "PROJECT", projectScope(p)
	case 1, 2:
		vars, scopeName, scope = &e.vars, "ENVIRONMENT", envScope(p, e)
	}
	secret := g.chance(0.25)
	var v *variable
	for _, x := range *vars {
		if x.secret == secret {
			v = x
			break
		}
	}
	kind := "environment_variable"
	if secret {
		kind = "secret"
	}
	op := g.r.IntN(10)
	switch {
	case v == nil || op < 3: // create
		v = g.newVariable(secret)
		*vars = append(*vars, v)
		ev := g.event(kind+".create", auditkeep.TypeCreate, &auditkeep.Target{Type: kind, ID: v.id, Name: v.key}, scope)
		ev.Snapshot = g.snapVariable(v, scopeName)
		ev.Metadata = g.request("POST", "/api/"+kind+"s", 201)
		g.emit(ev)
	case op < 8: // update
		before := g.snapVariable(v, scopeName)
		if secret {
			v.value = g.secretValue()
		} else {
			old := v.value
			for v.value == old && v.key != "DATABASE_URL" && v.key != "REDIS_URL" {
				v.value = g.varValue(v.key)
			}
			if v.value == old {
				v.value += "?sslmode=require"
			}
		}
		ev := g.event(kind+".update", auditkeep.TypeUpdate, &auditkeep.Target{Type: kind, ID: v.id, Name: v.key}, scope)
		ev.Before = before
		ev.Snapshot = g.snapVariable(v, scopeName)
		ev.Metadata = g.request("PUT", "/api/"+kind+"s/"+v.id, 200)
		g.emit(ev)
	default: // delete
		ev := g.event(kind+".delete", auditkeep.TypeDelete, &auditkeep.Target{Type: kind, ID: v.id, Name: v.key}, scope)
		ev.Before = g.snapVariable(v, scopeName)
		ev.Metadata = g.request("DELETE", "/api/"+kind+"s/"+v.id, 204)
		*vars = remove(*vars, v)
		g.emit(ev)
	}
	return true
}

func (g *Generator) createService() bool {
	p, e := g.anyEnv()
	if len(e.services) >= 8 {
		return false
	}
	s := g.newService(e)
	e.services = append(e.services, s)
	ev := g.event(s.kind+".create", auditkeep.TypeCreate, &auditkeep.Target{Type: s.kind, ID: s.id, Name: s.name}, serviceScope(p, e, s))
	ev.Snapshot = g.snapService(p, e, s)
	ev.Metadata = g.request("POST", "/api/environments/"+e.id+"/"+s.kind+"s", 201)
	g.emit(ev)
	return true
}

func (g *Generator) deleteService() bool {
	p, e := g.anyEnv()
	if len(e.services) < 2 {
		return false
	}
	s := pick(g, e.services)
	ev := g.event(s.kind+".delete", auditkeep.TypeDelete, &auditkeep.Target{Type: s.kind, ID: s.id, Name: s.name}, serviceScope(p, e, s))
	ev.Before = g.snapService(p, e, s)
	ev.Metadata = g.request("DELETE", "/api/"+s.kind+"s/"+s.id, 204)
	e.services = remove(e.services, s)
	g.emit(ev)
	return true
}

func (g *Generator) updateEnvironment() bool {
	p, e := g.anyEnv()
	before, after := g.change(func() []byte { return g.snapEnv(p, e) }, func() { g.mutateEnv(e) })
	ev := g.event("environment.update", auditkeep.TypeUpdate, &auditkeep.Target{Type: "environment", ID: e.id, Name: e.name}, envScope(p, e))
	ev.Before, ev.Snapshot = before, after
	ev.Metadata = g.request("PUT", "/api/environments/"+e.id, 200)
	g.emit(ev)
	return true
}

func (g *Generator) mutateEnv(e *environment) {
	switch g.r.IntN(4) {
	case 0:
		if e.name == "prod" {
			e.name = "production"
		} else if e.name == "production" && g.chance(0.3) {
			e.name = "prod"
		} else {
			e.name = pick(g, envNames)
		}
	case 1:
		e.mode = pick(g, []string{"PRODUCTION", "STAGING", "DEVELOPMENT", "PREVIEW"})
	default:
		if len(g.clusters) > 1 {
			e.cluster = pick(g, g.clusters)
		} else {
			e.running = !e.running
		}
	}
}

func (g *Generator) createEnvironment() bool {
	p := g.anyProject()
	if len(p.envs) >= 7 {
		return false
	}
	action := "environment.create"
	var e *environment
	var from *environment
	if g.chance(0.4) {
		from = pick(g, p.envs)
		action = "environment.clone"
		e = &environment{id: g.newID("env"), mode: "PREVIEW", cluster: from.cluster, running: true}
		for _, s := range from.services {
			c := *s
			c.id = g.newID(s.kind[:3])
			c.vars = nil
			e.services = append(e.services, &c)
		}
		e.name = "preview-pr-" + strconv.Itoa(100+g.r.IntN(2000))
	} else {
		e = g.newEnvironment(pick(g, envNames))
	}
	p.envs = append(p.envs, e)
	ev := g.event(action, auditkeep.TypeCreate, &auditkeep.Target{Type: "environment", ID: e.id, Name: e.name}, envScope(p, e))
	ev.Snapshot = g.snapEnv(p, e)
	if from != nil {
		g.w.reset()
		g.w.open()
		g.w.str("request_id", g.newID("req"))
		g.w.str("cloned_from", from.id)
		g.w.str("cloned_from_name", from.name)
		g.w.close()
		ev.Metadata = g.w.raw()
		if g.chance(0.3) {
			ev.Description = "Cloned environment " + quote(from.name) + " into " + quote(e.name) + " in project " + quote(p.name)
		}
	} else {
		ev.Metadata = g.request("POST", "/api/projects/"+p.id+"/environments", 201)
	}
	g.emit(ev)
	return true
}

func (g *Generator) deleteEnvironment() bool {
	p := g.anyProject()
	if len(p.envs) < 2 {
		return false
	}
	e := pick(g, p.envs)
	if e.mode == "PRODUCTION" && g.chance(0.8) {
		return false
	}
	ev := g.event("environment.delete", auditkeep.TypeDelete, &auditkeep.Target{Type: "environment", ID: e.id, Name: e.name}, envScope(p, e))
	ev.Before = g.snapEnv(p, e)
	ev.Metadata = g.request("DELETE", "/api/environments/"+e.id, 204)
	p.envs = remove(p.envs, e)
	g.emit(ev)
	return true
}

func (g *Generator) createProject() bool {
	if len(g.projects) >= 12 {
		return false
	}
	p := g.newProject()
	g.projects = append(g.projects, p)
	ev := g.event("project.create", auditkeep.TypeCreate, &auditkeep.Target{Type: "project", ID: p.id, Name: p.name}, projectScope(p))
	ev.Snapshot = g.snapProject(p)
	ev.Metadata = g.request("POST", "/api/projects", 201)
	g.emit(ev)
	return true
}

func (g *Generator) deleteProject() bool {
	if len(g.projects) <= 2 || !g.admin() {
		return false
	}
	p := g.anyProject()
	ev := g.event("project.delete", auditkeep.TypeDelete, &auditkeep.Target{Type: "project", ID: p.id, Name: p.name}, projectScope(p))
	ev.Before = g.snapProject(p)
	ev.Metadata = g.request("DELETE", "/api/projects/"+p.id, 204)
	ev.Description = "Deleted project " + quote(p.name) + " with " + strconv.Itoa(len(p.envs)) + " environments"
	g.projects = remove(g.projects, p)
	g.emit(ev)
	return true
}

// teardownCandidate returns the project with the most objects, when it has
// enough of them for its teardown to be a mass deletion and the organization
// keeps two projects or more without it; otherwise nil.
func (g *Generator) teardownCandidate() *project {
	if len(g.projects) <= 2 {
		return nil
	}
	var best *project
	most := 0
	for _, p := range g.projects {
		n := 1 + len(p.vars) + len(p.machines) + len(p.models)
		for _, e := range p.envs {
			n += 1 + len(e.vars) + len(e.services)
			for _, s := range e.services {
				n += len(s.vars)
			}
		}
		if n > most {
			best, most = p, n
		}
	}
	if most < 24 {
		return nil
	}
	return best
}

// teardown deletes a project and everything in it, one deletion after the
// other within seconds, as terraform destroy does: by the Terraform token
// when there is one, otherwise by the owner through the CLI.
func (g *Generator) teardown(p *project) {
	s := &g.sess
	for _, t := range g.tokens {
		if t.source == "terraform" {
			s.t = t
			s.source, s.ua, s.ip = t.source, t.ua, t.ip
			break
		}
	}
	if s.t == nil {
		s.u = g.users[0]
		s.source, s.ua, s.ip = "cli", s.u.cliUA, s.u.ips[0]
	}
	g.deleteVariables(p.vars, "PROJECT", projectScope(p))
	for _, e := range p.envs {
		for _, svc := range e.services {
			scope := serviceScope(p, e, svc)
			g.deleteVariables(svc.vars, "APPLICATION", scope)
			ev := g.event(svc.kind+".delete", auditkeep.TypeDelete, &auditkeep.Target{Type: svc.kind, ID: svc.id, Name: svc.name}, scope)
			ev.Before = g.snapService(p, e, svc)
			ev.Metadata = g.request("DELETE", "/api/"+svc.kind+"s/"+svc.id, 204)
			g.emit(ev)
		}
		e.services = nil
		g.deleteVariables(e.vars, "ENVIRONMENT", envScope(p, e))
		ev := g.event("environment.delete", auditkeep.TypeDelete, &auditkeep.Target{Type: "environment", ID: e.id, Name: e.name}, envScope(p, e))
		ev.Before = g.snapEnv(p, e)
		ev.Metadata = g.request("DELETE", "/api/environments/"+e.id, 204)
		g.emit(ev)
	}
	for _, m := range p.machines {
		ev := g.event(m.kind+".delete", auditkeep.TypeDelete, &auditkeep.Target{Type: m.kind, ID: m.id, Name: m.name}, projectScope(p))
		ev.Before = g.snapMachine(m)
		ev.Metadata = g.request("DELETE", "/api/"+m.kind+"s/"+m.id, 204)
		g.emit(ev)
	}
	for _, m := range p.models {
		ev := g.event("deployment.delete", auditkeep.TypeDelete, &auditkeep.Target{Type: "deployment", ID: m.id, Name: m.name}, modelScope(p, m))
		ev.Before = g.snapModel(m)
		ev.Metadata = g.request("DELETE", "/api/deployments/"+m.id, 204)
		g.emit(ev)
	}
	n := len(p.envs)
	p.envs, p.vars, p.machines, p.models = nil, nil, nil, nil
	ev := g.event("project.delete", auditkeep.TypeDelete, &auditkeep.Target{Type: "project", ID: p.id, Name: p.name}, projectScope(p))
	ev.Before = g.snapProject(p)
	ev.Metadata = g.request("DELETE", "/api/projects/"+p.id, 204)
	ev.Description = "Destroyed project " + quote(p.name) + " and its " + strconv.Itoa(n) + " environments"
	g.projects = remove(g.projects, p)
	g.emit(ev)
}

// deleteVariables emits the deletion of each variable of a list.
func (g *Generator) deleteVariables(vars []*variable, scopeName string, scope []auditkeep.ScopeEntry) {
	for _, v := range vars {
		kind := "environment_variable"
		if v.secret {
			kind = "secret"
		}
		ev := g.event(kind+".delete", auditkeep.TypeDelete, &auditkeep.Target{Type: kind, ID: v.id, Name: v.key}, scope)
		ev.Before = g.snapVariable(v, scopeName)
		ev.Metadata = g.request("DELETE", "/api/"+kind+"s/"+v.id, 204)
		g.emit(ev)
	}
}

func (g *Generator) updateProject() bool {
	p := g.anyProject()
	before, after := g.change(func() []byte { return g.snapProject(p) }, func() {
		if g.chance(0.04) { // a rare rename, to a name no other project bears
			p.name = g.projectName()
		} else {
			p.description = pick(g, projectDescriptions)
		}
	})
	ev := g.event("project.update", auditkeep.TypeUpdate, &auditkeep.Target{Type: "project", ID: p.id, Name: p.name}, projectScope(p))
	ev.Before, ev.Snapshot = before, after
	ev.Metadata = g.request("PUT", "/api/projects/"+p.id, 200)
	g.emit(ev)
	return true
}

func (g *Generator) anyMachine() (*project, *machine) {
	for range 4 {
		p := g.anyProject()
		if len(p.machines) > 0 {
			return p, pick(g, p.machines)
		}
	}
	return nil, nil
}

func (g *Generator) machineAction() bool {
	p, m := g.anyMachine()
	if m == nil {
		return g.createMachine()
	}
	verb := "restart"
	switch {
	case m.status == "stopped":
		verb, m.status = "start", "running"
	case g.chance(0.4):
		verb, m.status = "stop", "stopped"
	}
	ev := g.event(m.kind+"."+verb, auditkeep.TypeExecute, &auditkeep.Target{Type: m.kind, ID: m.id, Name: m.name}, projectScope(p))
	ev.Snapshot = g.snapMachine(m)
	ev.Metadata = g.request("POST", "/api/"+m.kind+"s/"+m.id+"/"+verb, 202)
	g.emit(ev)
	return true
}

func (g *Generator) createMachine() bool {
	p := g.anyProject()
	if len(p.machines) >= 5 {
		return false
	}
	m := g.newMachine()
	p.machines = append(p.machines, m)
	ev := g.event(m.kind+".create", auditkeep.TypeCreate, &auditkeep.Target{Type: m.kind, ID: m.id, Name: m.name}, projectScope(p))
	ev.Snapshot = g.snapMachine(m)
	ev.Metadata = g.request("POST", "/api/"+m.kind+"s", 201)
	g.emit(ev)
	return true
}

func (g *Generator) deleteMachine() bool {
	p, m := g.anyMachine()
	if m == nil {
		return false
	}
	ev := g.event(m.kind+".delete", auditkeep.TypeDelete, &auditkeep.Target{Type: m.kind, ID: m.id, Name: m.name}, projectScope(p))
	ev.Before = g.snapMachine(m)
	ev.Metadata = g.request("DELETE", "/api/"+m.kind+"s/"+m.id, 204)
	p.machines = remove(p.machines, m)
	g.emit(ev)
	return true
}

func (g *Generator) modelAction() bool {
	var p *project
	for range 4 {
		if q := g.anyProject(); len(q.models) > 0 {
			p = q
			break
		}
	}
	if p == nil || g.chance(0.05) {
		p = g.anyProject()
		if len(p.models) >= 4 {
			return false
		}
		m := g.newModel()
		p.models = append(p.models, m)
		ev := g.event("deployment.create", auditkeep.TypeCreate, &auditkeep.Target{Type: "deployment", ID: m.id, Name: m.name}, modelScope(p, m))
		ev.Snapshot = g.snapModel(m)
		ev.Metadata = g.request("POST", "/api/projects/"+p.id+"/deployments", 201)
		g.emit(ev)
		return true
	}
	m := pick(g, p.models)
	x := g.r.IntN(20)
	switch {
	case x < 2: // update the deployment
		before, after := g.change(func() []byte { return g.snapModel(m) }, func() {
			if g.chance(0.5) {
				m.description = pick(g, []string{"", "Production model", "Experimental", "Deprecated: use v2 endpoint"})
			} else {
				m.labels = pick(g, []string{"", "team:ml", "owner:data,tier:1", "tier:2"})
			}
		})
		ev := g.event("deployment.update", auditkeep.TypeUpdate, &auditkeep.Target{Type: "deployment", ID: m.id, Name: m.name}, modelScope(p, m))
		ev.Before, ev.Snapshot = before, after
		ev.Metadata = g.request("PATCH", "/api/deployments/"+m.id, 200)
		g.emit(ev)
	case x < 3 && len(p.models) > 1: // delete the deployment
		ev := g.event("deployment.delete", auditkeep.TypeDelete, &auditkeep.Target{Type: "deployment", ID: m.id, Name: m.name}, modelScope(p, m))
		ev.Before = g.snapModel(m)
		ev.Metadata = g.request("DELETE", "/api/deployments/"+m.id, 204)
		p.models = remove(p.models, m)
		g.emit(ev)
	case x < 6: // new version
		v := g.newVersion(len(m.versions) + 1)
		v.name = "v" + strconv.Itoa(len(m.versions)+1)
		m.versions = append(m.versions, v)
		ev := g.event("version.create", auditkeep.TypeCreate, &auditkeep.Target{Type: "version", ID: v.id, Name: v.name}, versionScope(p, m, v))
		ev.Snapshot = g.snapVersion(m, v)
		ev.Metadata = g.request("POST", "/api/deployments/"+m.id+"/versions", 201)
		g.emit(ev)
	case x < 7 && len(m.versions) > 1: // delete a version
		v := m.versions[0]
		ev := g.event("version.delete", auditkeep.TypeDelete, &auditkeep.Target{Type: "version", ID: v.id, Name: v.name}, versionScope(p, m, v))
		ev.Before = g.snapVersion(m, v)
		ev.Metadata = g.request("DELETE", "/api/versions/"+v.id, 204)
		m.versions = m.versions[1:]
		g.emit(ev)
	case x < 11: // upload or download the version's file: info
		v := pick(g, m.versions)
		verb := "upload"
		if v.fileHash != "" && g.chance(0.3) {
			verb = "download"
		} else {
			v.fileHash = "sha256:" + string(appendHex(appendHex(nil, g.r.Uint64(), 16), g.r.Uint64(), 16))
		}
		ev := g.event("version.file."+verb, auditkeep.TypeInfo, &auditkeep.Target{Type: "version", ID: v.id, Name: v.name}, versionScope(p, m, v))
		g.w.reset()
		g.w.open()
		g.w.str("request_id", g.newID("req"))
		g.w.str("file", m.name+"-"+v.name+".zip")
		g.w.num("size_bytes", 50_000+g.r.IntN(400_000_000))
		g.w.str("file_hash", v.fileHash)
		g.w.close()
		ev.Metadata = g.w.raw()
		if verb == "upload" {
			ev.Snapshot = g.snapVersion(m, v)
			if g.chance(0.3) {
				ev.Description = "Uploaded a deployment file to version " + quote(v.name) + " of deployment " + quote(m.name)
			}
		}
		g.emit(ev)
	default: // update a version
		v := pick(g, m.versions)
		before, after := g.change(func() []byte { return g.snapVersion(m, v) }, func() {
			switch g.r.IntN(4) {
			case 0:
				v.instanceType = pick(g, instanceTypes)
			case 1:
				v.maxInst = 1 + g.r.IntN(10)
			case 2:
				v.idleSeconds = pick(g, []int{60, 300, 600, 1800, 3600})
			default:
				v.retention = pick(g, []string{"none", "metadata", "full"})
			}
		})
		ev := g.event("version.update", auditkeep.TypeUpdate, &auditkeep.Target{Type: "version", ID: v.id, Name: v.name}, versionScope(p, m, v))
		ev.Before, ev.Snapshot = before, after
		ev.Metadata = g.request("PATCH", "/api/versions/"+v.id, 200)
		g.emit(ev)
	}
	return true
}

func (g *Generator) memberAction() bool {
	if !g.admin() || g.sess.u == nil {
		return false
	}
	switch x := g.r.IntN(10); {
	case x < 4 && len(g.invitations) < 3 && len(g.users) < 2*g.opts.Users+5: // invite
		u := g.newUser()
		u.active = false
		inv := &invitation{id: g.newID("inv"), u: u, role: pick(g, []string{"developer", "developer", "devops", "viewer"}), by: g.sess.u}
		u.invitationID = inv.id
		g.invitations = append(g.invitations, inv)
		ev := g.event("member.invite", auditkeep.TypeCreate, &auditkeep.Target{Type: "invitation", ID: inv.id, Name: u.email}, nil)
		g.w.reset()
		g.w.open()
		g.w.str("id", inv.id)
		g.w.str("email", u.email)
		g.w.str("role", inv.role)
		g.w.str("status", "pending")
		g.w.num("expires_in_days", 7)
		g.w.close()
		ev.Snapshot = g.w.raw()
		ev.Metadata = g.request("POST", "/api/organization/invitations", 201)
		g.emit(ev)
	case x < 8: // role change
		u := g.activeUser()
		if u == g.sess.u || u.role == "owner" {
			return false
		}
		before := g.snapMember(u)
		old := u.role
		for u.role == old {
			u.role = roles[1+g.r.IntN(len(roles)-1)]
		}
		ev := g.event("member.role.update", auditkeep.TypeUpdate, &auditkeep.Target{Type: "user", ID: u.id, Name: u.name}, nil)
		ev.Before, ev.Snapshot = before, g.snapMember(u)
		ev.Metadata = g.request("PUT", "/api/organization/members/"+u.id+"/role", 200)
		g.emit(ev)
		if u.role == "admin" || u.role == "owner" {
			g.incident(IncidentPrivilegeEscalation, ev)
		}
	default: // removal
		u := g.activeUser()
		if u == g.sess.u || u.role == "owner" || len(g.users) < g.opts.Users/2+2 {
			return false
		}
		ev := g.event("member.remove", auditkeep.TypeDelete, &auditkeep.Target{Type: "user", ID: u.id, Name: u.name}, nil)
		ev.Before = g.snapMember(u)
		ev.Metadata = g.request("DELETE", "/api/organization/members/"+u.id, 204)
		u.active = false
		g.users = remove(g.users, u)
		g.emit(ev)
	}
	return true
}

func (g *Generator) tokenAction() bool {
	if g.sess.u == nil || !(g.admin() || g.sess.u.role == "devops") {
		return false
	}
	if len(g.tokens) > 2 && g.chance(0.4) {
		t := pick(g, g.tokens)
		ev := g.event("token.revoke", auditkeep.TypeDelete, &auditkeep.Target{Type: "api_token", ID: t.id, Name: t.name}, nil)
		ev.Before = g.snapToken(t)
		ev.Metadata = g.request("DELETE", "/api/organization/api-tokens/"+t.id, 204)
		g.tokens = remove(g.tokens, t)
		g.emit(ev)
		return true
	}
	if len(g.tokens) >= 15 {
		return false
	}
	t := g.newToken(g.sess.u)
	g.tokens = append(g.tokens, t)
	ev := g.event("token.create", auditkeep.TypeCreate, &auditkeep.Target{Type: "api_token", ID: t.id, Name: t.name}, nil)
	ev.Snapshot = g.snapToken(t)
	ev.Metadata = g.request("POST", "/api/organization/api-tokens", 201)
	g.emit(ev)
	g.incident(IncidentAPITokenCreated, ev)
	return true
}

func (g *Generator) sshKeyAction() bool {
	u := g.sess.u
	if u == nil {
		return false
	}
	w := &g.w
	if len(u.sshKeys) > 0 && g.chance(0.35) {
		k := pick(g, u.sshKeys)
		ev := g.event("ssh_key.delete", auditkeep.TypeDelete, &auditkeep.Target{Type: "ssh_key", ID: k.id, Name: k.name}, nil)
		w.reset()
		w.open()
		w.str("id", k.id)
		w.str("name", k.name)
		w.str("fingerprint", k.fingerprint)
		w.close()
		ev.Before = w.raw()
		ev.Metadata = g.request("DELETE", "/api/ssh-keys/"+k.id, 204)
		u.sshKeys = remove(u.sshKeys, k)
		g.emit(ev)
		return true
	}
	k := g.newSSHKey()
	u.sshKeys = append(u.sshKeys, k)
	ev := g.event("ssh_key.create", auditkeep.TypeCreate, &auditkeep.Target{Type: "ssh_key", ID: k.id, Name: k.name}, nil)
	w.reset()
	w.open()
	w.str("id", k.id)
	w.str("name", k.name)
	w.str("fingerprint", k.fingerprint)
	w.str("algorithm", pick(g, []string{"ssh-ed25519", "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256"}))
	w.close()
	ev.Snapshot = w.raw()
	ev.Metadata = g.request("POST", "/api/ssh-keys", 201)
	g.emit(ev)
	return true
}

func (g *Generator) clusterAction() bool {
	if g.sess.u != nil && !(g.admin() || g.sess.u.role == "devops") {
		return false
	}
	c := pick(g, g.clusters)
	target := &auditkeep.Target{Type: "cluster", ID: c.id, Name: c.name}
	scope := []auditkeep.ScopeEntry{{Type: "cluster", ID: c.id, Name: c.name}}
	if g.chance(0.25) {
		ev := g.event("cluster.deploy", auditkeep.TypeExecute, target, scope)
		ev.Snapshot = g.snapCluster(c)
		ev.Metadata = g.request("POST", "/api/clusters/"+c.id+"/deploy", 202)
		g.emit(ev)
		return true
	}
	before, after := g.change(func() []byte { return g.snapCluster(c) }, func() {
		switch g.r.IntN(3) {
		case 0:
			c.maxNodes = max(c.minNodes, c.maxNodes+pick(g, []int{-2, -1, 1, 2, 4}))
		case 1:
			c.minNodes = min(c.maxNodes, 1+g.r.IntN(4))
		default:
			c.instanceType = pick(g, []string{"t3a.large", "t3a.xlarge", "t3a.2xlarge", "m6i.xlarge", "a2-highgpu-1g", "PRO2-M"})
		}
	})
	ev := g.event("cluster.update", auditkeep.TypeUpdate, target, scope)
	ev.Before, ev.Snapshot = before, after
	ev.Metadata = g.request("PUT", "/api/clusters/"+c.id, 200)
	g.emit(ev)
	return true
}

// readAction records a sensitive read: revealing a secret, downloading a
// kubeconfig, exporting the audit log.
func (g *Generator) readAction() bool {
	switch g.r.IntN(3) {
	case 0:
		p, e, s := g.anyService()
		for _, v := range s.vars {
			if v.secret {
				ev := g.event("secret.reveal", auditkeep.TypeRead, &auditkeep.Target{Type: "secret", ID: v.id, Name: v.key}, serviceScope(p, e, s))
				if !g.admin() && g.sess.u != nil && g.sess.u.role != "devops" {
					ev.Status = auditkeep.StatusFailure
					ev.Metadata = g.request("GET", "/api/secrets/"+v.id+"/value", 403)
				} else {
					ev.Metadata = g.request("GET", "/api/secrets/"+v.id+"/value", 200)
				}
				g.emit(ev)
				return true
			}
		}
		return false
	case 1:
		c := pick(g, g.clusters)
		ev := g.event("cluster.kubeconfig.download", auditkeep.TypeRead, &auditkeep.Target{Type: "cluster", ID: c.id, Name: c.name},
			[]auditkeep.ScopeEntry{{Type: "cluster", ID: c.id, Name: c.name}})
		ev.Metadata = g.request("GET", "/api/clusters/"+c.id+"/kubeconfig", 200)
		g.emit(ev)
	default:
		ev := g.event("audit_log.export", auditkeep.TypeRead, &auditkeep.Target{Type: "audit_log", ID: "audit_log", Name: "Audit log"}, nil)
		g.w.reset()
		g.w.open()
		g.w.str("format", pick(g, []string{"csv", "csv", "ndjson"}))
		g.w.str("from", g.now.Add(-time.Duration(1+g.r.IntN(30))*24*time.Hour).Format(time.DateOnly))
		g.w.str("to", g.now.Format(time.DateOnly))
		g.w.close()
		ev.Metadata = g.w.raw()
		g.emit(ev)
	}
	return true
}

// forbiddenAttempt is a change refused for lack of permission.
func (g *Generator) forbiddenAttempt() bool {
	p, e, s := g.anyService()
	action := pick(g, []string{".update", ".delete", ".deploy"})
	typ := map[string]string{".update": auditkeep.TypeUpdate, ".delete": auditkeep.TypeDelete, ".deploy": auditkeep.TypeExecute}[action]
	ev := g.event(s.kind+action, typ, &auditkeep.Target{Type: s.kind, ID: s.id, Name: s.name}, serviceScope(p, e, s))
	ev.Status = auditkeep.StatusFailure
	ev.Metadata = g.request("PUT", "/api/"+s.kind+"s/"+s.id, 403)
	g.emit(ev)
	return true
}

// systemAction is the platform acting on its own.
func (g *Generator) systemAction() {
	switch g.sess.sys.ID {
	case "sys_autoscaler":
		for range 4 {
			p, e, s := g.anyService()
			if s.maxInst <= s.minInst {
				continue
			}
			before := g.snapServiceScale(s)
			old := s.cur
			for s.cur == old {
				s.cur = s.minInst + g.r.IntN(s.maxInst-s.minInst+1)
			}
			ev := g.event(s.kind+".scale", auditkeep.TypeUpdate, &auditkeep.Target{Type: s.kind, ID: s.id, Name: s.name}, serviceScope(p, e, s))
			ev.Before, ev.Snapshot = before, g.snapServiceScale(s)
			ev.Description = "Autoscaler scaled " + s.kind + " " + quote(s.name) + " from " + strconv.Itoa(old) + " to " + strconv.Itoa(s.cur) + " instances"
			g.emit(ev)
			return
		}
		fallthrough
	case "sys_deployment_rules":
		p, e := g.anyEnv()
		if e.mode == "PRODUCTION" {
			p, e = g.anyEnv()
		}
		action := "environment.stop"
		if !e.running {
			action = "environment.start"
		}
		e.running = !e.running
		ev := g.event(action, auditkeep.TypeExecute, &auditkeep.Target{Type: "environment", ID: e.id, Name: e.name}, envScope(p, e))
		ev.Snapshot = g.snapEnv(p, e)
		if action == "environment.stop" {
			ev.Description = "Stopped environment " + quote(e.name) + " by deployment rule 'Nightly shutdown'"
		} else {
			ev.Description = "Started environment " + quote(e.name) + " by deployment rule 'Working hours'"
		}
		g.emit(ev)
	case "sys_certificates":
		p, e, s := g.anyService()
		domain := s.name + "-" + e.id[4:10] + "." + g.orgSlug + ".example"
		ev := g.event("certificate.renew", auditkeep.TypeUpdate, &auditkeep.Target{Type: "certificate", ID: "crt_" + s.id[4:], Name: domain}, serviceScope(p, e, s))
		ev.Status = auditkeep.StatusSuccess
		if g.chance(0.05) {
			ev.Status = auditkeep.StatusFailure
			ev.Description = "Renewal of the certificate of " + domain + " failed: DNS challenge not found"
		}
		g.w.reset()
		g.w.open()
		g.w.str("issuer", "Let's Encrypt")
		g.w.str("not_after", g.now.Add(90*24*time.Hour).Format(time.RFC3339))
		g.w.close()
		ev.Snapshot = g.w.raw()
		g.emit(ev)
	case "sys_backups":
		for range 4 {
			p, e, s := g.anyService()
			if s.kind != "database" {
				continue
			}
			ev := g.event("database.backup", auditkeep.TypeExecute, &auditkeep.Target{Type: "database", ID: s.id, Name: s.name}, serviceScope(p, e, s))
			g.w.reset()
			g.w.open()
			g.w.str("backup_id", g.newID("bkp"))
			g.w.num("size_mb", 100+g.r.IntN(50_000))
			g.w.close()
			ev.Metadata = g.w.raw()
			if g.chance(0.03) {
				ev.Status = auditkeep.StatusFailure
				ev.Description = "Backup of database " + quote(s.name) + " failed: snapshot quota exceeded"
			}
			g.emit(ev)
			return
		}
		p, e, s := g.anyService()
		ev := g.event(s.kind+".restart", auditkeep.TypeExecute, &auditkeep.Target{Type: s.kind, ID: s.id, Name: s.name}, serviceScope(p, e, s))
		ev.Description = "Restarted " + s.kind + " " + quote(s.name) + " after a container ran out of memory (OOMKilled)"
		g.emit(ev)
	case "sys_token_expiry": // a token with a validity reaches its end
		var expiring []*token
		for _, t := range g.tokens {
			if t.expires > 0 {
				expiring = append(expiring, t)
			}
		}
		if len(g.tokens) <= 3 || len(expiring) == 0 {
			return
		}
		t := pick(g, expiring)
		ev := g.event("token.expire", auditkeep.TypeDelete, &auditkeep.Target{Type: "api_token", ID: t.id, Name: t.name}, nil)
		ev.Before = g.snapToken(t)
		ev.Description = "API token " + quote(t.name) + " expired after " + strconv.Itoa(t.expires) + " days"
		g.tokens = remove(g.tokens, t)
		g.emit(ev)
	default: // billing: a plan or quota notice
		ev := g.event("billing.quota.warning", auditkeep.TypeInfo, &auditkeep.Target{Type: "organization", ID: "org_" + g.orgSlug, Name: g.opts.Organization}, nil)
		g.w.reset()
		g.w.open()
		g.w.str("resource", pick(g, []string{"gpu_hours", "build_minutes", "bandwidth_gb"}))
		g.w.num("used_percent", 80+g.r.IntN(21))
		g.w.close()
		ev.Metadata = g.w.raw()
		g.emit(ev)
	}
}

func (g *Generator) snapServiceScale(s *service) []byte {
	w := &g.w
	w.reset()
	w.open()
	w.str("id", s.id)
	w.num("running_instances", s.cur)
	w.num("min_running_instances", s.minInst)
	w.num("max_running_instances", s.maxInst)
	w.close()
	return w.raw()
}
