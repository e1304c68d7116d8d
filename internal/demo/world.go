package demo

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// The platform's objects. Each keeps the state its snapshots render, so that
// an update's before and snapshot differ exactly by what the update changed.

type user struct {
	id, name, email string
	team, role      string
	ips             []string // stable addresses: office, home, sometimes IPv6
	browser         string   // the console's user agent
	cliUA           string
	mfa             bool
	active          bool // a member of the organization (invited users are not, yet)
	invitationID    string
	sshKeys         []*sshKey
	lastFailure     time.Time // of the latest mistyped password
}

type sshKey struct{ id, name, fingerprint string }

type token struct {
	id, name   string
	team, role string
	source     string // api, terraform or cli
	ua, ip     string
	owner      *user
	expires    int // days of validity; 0 never
}

type cluster struct {
	id, name, provider, region, instanceType, version string
	minNodes, maxNodes                                int
}

type project struct {
	id, name, description string
	envs                  []*environment
	models                []*model // served models (deployments → versions)
	machines              []*machine
	vars                  []*variable
}

type environment struct {
	id, name, mode string
	cluster        *cluster
	services       []*service
	vars           []*variable
	running        bool
}

type service struct {
	id, kind, name        string // kind: application, container, database, job
	cpu, memory           int    // millicores, MiB
	minInst, maxInst, cur int
	port                  int
	image, tag, branch    string
	autoDeploy            bool
	healthPath            string
	vars                  []*variable
}

type variable struct {
	id, key, value string
	secret         bool
}

type model struct {
	id, name, description string
	inputType, outputType string
	versions              []*version
	labels                string
}

type version struct {
	id, name, language, instanceType string
	minInst, maxInst, idleSeconds    int
	retention                        string
	fileHash                         string
}

type machine struct {
	id, name, kind string // kind: pod or vm
	gpu            string
	gpus, diskGB   int
	image, status  string
}

type invitation struct {
	id   string
	u    *user
	role string
	by   *user
}

var (
	firstNames = []string{"Alice", "Bruno", "Chloé", "David", "Emma", "Farid", "Gabriel", "Hannah", "Ines", "Jonas",
		"Karim", "Laura", "Mateo", "Nina", "Olivier", "Priya", "Quentin", "Rosa", "Samuel", "Tomoko", "Ugo", "Valentina",
		"William", "Xin", "Yasmine", "Zoé", "Arjun", "Beatriz", "Carlos", "Dmitri", "Elif", "Fatou", "Giulia", "Hugo",
		"Ivana", "Jakob", "Kenji", "Lucía", "Marek", "Noor"}
	lastNames = []string{"Martin", "Bernard", "Dubois", "Nguyen", "Schmidt", "Rossi", "García", "Kowalski", "Okafor",
		"Tanaka", "Silva", "Jensen", "Haddad", "Novak", "Müller", "Lefèvre", "Singh", "O'Brien", "Andersen", "Costa",
		"Yilmaz", "Petrov", "Moreau", "Fischer", "Laurent", "Khan", "Ivanova", "Romero", "Chen", "Diallo"}
	teams       = []string{"platform", "backend", "frontend", "data", "ml", "security", "sre"}
	roles       = []string{"owner", "admin", "devops", "developer", "viewer", "billing_manager"}
	roleWeights = []float64{0.5, 2, 4, 8, 3, 0.5}

	browsers = []string{
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14.7; rv:133.0) Gecko/20100101 Firefox/133.0",
	}
	cliUAs = []string{
		"platform-cli/1.14.2 (darwin; arm64)", "platform-cli/1.14.2 (linux; amd64)",
		"platform-cli/1.13.0 (windows; amd64)", "platform-cli/1.14.1 (darwin; amd64)",
	}
	apiUAs = []string{"python-requests/2.32.3", "curl/8.11.0", "Go-http-client/2.0", "axios/1.7.7", "okhttp/4.12.0"}
	tfUA   = "Terraform/1.9.8 (+https://www.terraform.io) Terraform-Plugin-SDK/2.35.0 terraform-provider-platform/0.41.0"
	gitUAs = []string{"GitHub-Hookshot/5c9a3f1", "GitLab/17.5.2", "Bitbucket-Webhooks/2.0"}

	tokenNames = []string{"github-actions-prod", "terraform-ci", "gitlab-runner", "backstage", "datadog-integration",
		"deploy-bot", "nightly-e2e", "argo-workflows", "ml-pipeline", "cost-exporter", "pagerduty-runbook", "staging-seeder"}
	projectNames = []string{"Shop", "Payments", "Data Platform", "Mobile Backend", "Internal Tools", "Marketing Site",
		"ML Inference", "Search", "Billing", "Analytics", "Identity", "Notifications", "Partner API", "Recommendations"}
	projectDescriptions = []string{"Customer-facing storefront", "Card and wallet payments", "Ingestion and warehouse jobs",
		"APIs for the iOS and Android apps", "Back-office tools", "Public website", "Model serving", ""}
	envNames = []string{"production", "staging", "development", "qa", "demo", "sandbox"}
	envModes = map[string]string{"production": "PRODUCTION", "staging": "STAGING", "qa": "STAGING",
		"development": "DEVELOPMENT", "demo": "DEVELOPMENT", "sandbox": "DEVELOPMENT"}
	serviceNames = map[string][]string{
		"application": {"api", "frontend", "worker", "gateway", "admin", "webhook-handler", "graphql", "auth", "checkout", "search-indexer"},
		"container":   {"nginx", "prometheus", "grafana", "otel-collector", "metabase"},
		"database":    {"postgres", "redis", "mongodb", "mysql", "clickhouse"},
		"job":         {"db-migrations", "nightly-report", "cleanup-cron", "backup", "sitemap-builder", "invoice-run"},
	}
	serviceKinds       = []string{"application", "container", "database", "job"}
	serviceKindWeights = []float64{6, 1.5, 2, 1.5}
	branches           = []string{"main", "main", "main", "develop", "release/2.4", "feature/checkout-v2"}
	modelNames         = []string{"image-classifier", "churn-model", "text-embedder", "fraud-scorer", "llm-summarizer",
		"demand-forecast", "ocr-reader", "sentiment"}
	languages     = []string{"python3.11", "python3.12", "python3.10", "r4.4"}
	instanceTypes = []string{"256mb", "512mb", "1024mb", "2048mb", "16384mb_t4", "80gb_h100"}
	gpuTypes      = []string{"H100 80GB", "A100 40GB", "A100 80GB", "L40S", "RTX 4090", "A10G"}
	machineNames  = []string{"train-llama-ft", "jupyter", "inference-a100", "render-farm", "sd-finetune", "batch-eval", "whisper-transcribe"}
	machineImages = []string{"pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime", "nvcr.io/nvidia/tritonserver:24.10-py3",
		"jupyter/datascience-notebook:2024-10-07", "ubuntu:24.04", "vllm/vllm-openai:v0.6.3"}
	varKeys    = []string{"LOG_LEVEL", "DATABASE_URL", "REDIS_URL", "FEATURE_FLAGS", "API_BASE_URL", "NODE_ENV", "WORKERS", "TIMEOUT_MS", "CACHE_TTL", "SENTRY_ENVIRONMENT", "MAX_UPLOAD_MB", "RATE_LIMIT_RPS"}
	secretKeys = []string{"STRIPE_API_KEY", "AWS_SECRET_ACCESS_KEY", "JWT_SECRET", "DB_PASSWORD", "OPENAI_API_KEY", "GITHUB_TOKEN", "SENDGRID_API_KEY", "SENTRY_DSN"}
	logLevels  = []string{"debug", "info", "warn", "error"}
	clusters   = []struct{ name, provider, region, itype string }{
		{"production-eu", "AWS", "eu-west-3", "t3a.xlarge"}, {"staging-us", "AWS", "us-east-2", "t3a.large"},
		{"gpu-pool", "GCP", "europe-west4", "a2-highgpu-1g"}, {"dev-scw", "SCW", "fr-par", "PRO2-S"},
	}
	k8sVersions  = []string{"1.29", "1.30", "1.31"}
	sshKeyNames  = []string{"laptop", "work-mbp", "desktop", "yubikey", "ci-runner", "bastion"}
	loginMethods = []string{"password", "sso", "sso", "github", "google"}
	failReasons  = []string{"invalid_password", "invalid_password", "invalid_password", "mfa_failed", "account_locked", "unknown_user"}
)

// pick returns one of list.
func pick[T any](g *Generator, list []T) T { return list[g.r.IntN(len(list))] }

// pickWeighted returns an index of weights, chosen in proportion to them.
func (g *Generator) pickWeighted(weights []float64) int {
	var total float64
	for _, w := range weights {
		total += w
	}
	x := g.r.Float64() * total
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}

// chance reports true with probability p.
func (g *Generator) chance(p float64) bool { return g.r.Float64() < p }

// newID returns the next identifier with prefix, such as "prj_3f9a1c".
func (g *Generator) newID(prefix string) string {
	g.objects++
	v := mix(g.idSalt ^ g.objects)
	var buf [32]byte
	b := append(buf[:0], prefix...)
	b = append(b, '_')
	b = appendHex(b, v, 12)
	return string(b)
}

// mix is SplitMix64's finalizer: a bijection of uint64, so distinct counters
// give distinct identifiers.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func appendHex(b []byte, v uint64, digits int) []byte {
	const hex = "0123456789abcdef"
	for i := digits - 1; i >= 0; i-- {
		b = append(b, hex[(v>>(4*uint(i)))&0xf])
	}
	return b
}

// slug lowercases a name into an email or path part.
func slug(s string) string { return strings.ToLower(slugReplacer.Replace(s)) }

var slugReplacer = strings.NewReplacer("é", "e", "è", "e", "ç", "c", "í", "i", "ü", "u", "ú", "u", "'", "", " ", "-")

// newUser makes a person with stable addresses and tools.
func (g *Generator) newUser() *user {
	first, last := pick(g, firstNames), pick(g, lastNames)
	u := &user{
		id:      g.newID("usr"),
		name:    first + " " + last,
		team:    pick(g, teams),
		role:    roles[g.pickWeighted(roleWeights)],
		browser: pick(g, browsers),
		cliUA:   pick(g, cliUAs),
		mfa:     g.chance(0.7),
		active:  true,
	}
	u.email = slug(first) + "." + slug(last) + "@" + g.domain
	if g.emails[u.email] {
		u.email = slug(first) + "." + slug(last) + strconv.Itoa(len(g.emails)) + "@" + g.domain
	}
	g.emails[u.email] = true
	// The office's NAT address is shared; home addresses are personal.
	u.ips = append(u.ips, g.officeIPs[g.r.IntN(len(g.officeIPs))])
	u.ips = append(u.ips, "198.51.100."+strconv.Itoa(1+g.r.IntN(254)))
	if g.chance(0.3) {
		u.ips = append(u.ips, "2001:db8:"+strconv.FormatInt(int64(0x100+g.r.IntN(0xe00)), 16)+"::"+strconv.FormatInt(int64(1+g.r.IntN(0xfffe)), 16))
	}
	for range g.r.IntN(3) {
		u.sshKeys = append(u.sshKeys, g.newSSHKey())
	}
	return u
}

func (g *Generator) newSSHKey() *sshKey {
	b := make([]byte, 0, 50)
	b = append(b, "SHA256:"...)
	for range 3 {
		b = appendHex(b, g.r.Uint64(), 14)
	}
	return &sshKey{id: g.newID("ssh"), name: pick(g, sshKeyNames), fingerprint: string(b)}
}

func (g *Generator) newToken(owner *user) *token {
	t := &token{
		id:    g.newID("tok"),
		name:  pick(g, tokenNames),
		team:  owner.team,
		role:  pick(g, []string{"admin", "devops", "devops", "developer", "viewer"}),
		owner: owner,
		ip:    "192.0.2." + strconv.Itoa(128+g.r.IntN(126)),
	}
	switch {
	case strings.HasPrefix(t.name, "terraform"):
		t.source, t.ua = "terraform", tfUA
	case g.chance(0.15):
		t.source, t.ua = "cli", pick(g, cliUAs)
	default:
		t.source, t.ua = "api", pick(g, apiUAs)
	}
	if g.chance(0.4) {
		t.expires = pick(g, []int{30, 90, 365})
	}
	return t
}

func (g *Generator) newCluster(i int) *cluster {
	c := clusters[i%len(clusters)]
	return &cluster{id: g.newID("cls"), name: c.name, provider: c.provider, region: c.region, instanceType: c.itype,
		version: pick(g, k8sVersions), minNodes: 1 + g.r.IntN(3), maxNodes: 4 + g.r.IntN(12)}
}

// projectName returns a name that no project bears: one of projectNames,
// or one of them with a number when all are taken.
func (g *Generator) projectName() string {
	taken := func(name string) bool {
		for _, p := range g.projects {
			if p.name == name {
				return true
			}
		}
		return false
	}
	for n := 1; ; n++ {
		var free []string
		for _, name := range projectNames {
			if n > 1 {
				name += " " + strconv.Itoa(n)
			}
			if !taken(name) {
				free = append(free, name)
			}
		}
		if len(free) > 0 {
			return pick(g, free)
		}
	}
}

func (g *Generator) newProject() *project {
	p := &project{id: g.newID("prj"), name: g.projectName(), description: pick(g, projectDescriptions)}
	for _, name := range []string{"production", "staging", "development"}[:1+g.r.IntN(3)] {
		p.envs = append(p.envs, g.newEnvironment(name))
	}
	for range g.r.IntN(2) {
		p.vars = append(p.vars, g.newVariable(false))
	}
	if g.chance(0.4) {
		p.models = append(p.models, g.newModel())
	}
	if g.chance(0.35) {
		p.machines = append(p.machines, g.newMachine())
	}
	return p
}

func (g *Generator) newEnvironment(name string) *environment {
	e := &environment{id: g.newID("env"), name: name, mode: envModes[name], running: true}
	if e.mode == "" {
		e.mode = "DEVELOPMENT"
	}
	if len(g.clusters) > 0 {
		e.cluster = g.clusters[g.r.IntN(len(g.clusters))]
	}
	for range 1 + g.r.IntN(4) {
		e.services = append(e.services, g.newService(e))
	}
	for range g.r.IntN(3) {
		e.vars = append(e.vars, g.newVariable(g.chance(0.3)))
	}
	return e
}

// newService returns a service for environment e, named unlike e's others.
func (g *Generator) newService(e *environment) *service {
	kind := serviceKinds[g.pickWeighted(serviceKindWeights)]
	var free []string
	for _, name := range serviceNames[kind] {
		if !slices.ContainsFunc(e.services, func(s *service) bool { return s.name == name }) {
			free = append(free, name)
		}
	}
	name := pick(g, serviceNames[kind])
	if len(free) > 0 {
		name = pick(g, free)
	}
	s := &service{
		id: g.newID(kind[:3]), kind: kind, name: name,
		cpu: pick(g, []int{250, 500, 1000, 2000}), memory: pick(g, []int{256, 512, 1024, 2048, 4096}),
		minInst: 1, maxInst: 1 + g.r.IntN(4), autoDeploy: g.chance(0.6),
	}
	s.cur = s.minInst
	switch kind {
	case "application":
		s.port = pick(g, []int{3000, 8000, 8080, 80})
		s.branch = pick(g, branches)
		s.tag = g.commit()
		s.healthPath = pick(g, []string{"/healthz", "/health", "/", "/api/status"})
	case "container":
		s.image = pick(g, []string{"nginx", "prom/prometheus", "grafana/grafana", "otel/opentelemetry-collector", "metabase/metabase"})
		s.tag = pick(g, []string{"1.27", "v2.54.1", "11.3.0", "0.112.0", "v0.51.2", "latest"})
		s.port = pick(g, []int{80, 9090, 3000, 4317})
	case "database":
		s.image = s.name
		s.tag = pick(g, []string{"16", "15", "7.4", "8.0"})
		s.port = pick(g, []int{5432, 6379, 27017, 3306})
		s.maxInst = 1
	case "job":
		s.branch = pick(g, branches)
		s.tag = g.commit()
		s.maxInst = 1
	}
	for range g.r.IntN(4) {
		s.vars = append(s.vars, g.newVariable(g.chance(0.25)))
	}
	return s
}

// commit returns a short git commit hash.
func (g *Generator) commit() string { return string(appendHex(nil, g.r.Uint64(), 7)) }

func (g *Generator) newVariable(secret bool) *variable {
	v := &variable{id: g.newID("var"), secret: secret}
	if secret {
		v.key = pick(g, secretKeys)
		v.value = g.secretValue()
	} else {
		v.key = pick(g, varKeys)
		v.value = g.varValue(v.key)
	}
	return v
}

func (g *Generator) secretValue() string {
	b := make([]byte, 0, 40)
	b = append(b, pick(g, []string{"sk_live_", "ghp_", "", "AKIA", "SG."})...)
	b = appendHex(b, g.r.Uint64(), 16)
	b = appendHex(b, g.r.Uint64(), 12)
	return string(b)
}

func (g *Generator) varValue(key string) string {
	switch key {
	case "LOG_LEVEL":
		return pick(g, logLevels)
	case "WORKERS", "MAX_UPLOAD_MB", "RATE_LIMIT_RPS":
		return strconv.Itoa(pick(g, []int{2, 4, 8, 16, 25, 50, 100}))
	case "TIMEOUT_MS", "CACHE_TTL":
		return strconv.Itoa(pick(g, []int{500, 1000, 3000, 30000, 60000}))
	case "NODE_ENV", "SENTRY_ENVIRONMENT":
		return pick(g, []string{"production", "staging", "development"})
	case "FEATURE_FLAGS":
		return pick(g, []string{"new-checkout,dark-mode", "beta-search", "", "new-checkout"})
	case "DATABASE_URL":
		return "postgres://app@postgres.internal:5432/app"
	case "REDIS_URL":
		return "redis://redis.internal:6379/0"
	default:
		return "https://api.internal.example/v" + strconv.Itoa(1+g.r.IntN(3))
	}
}

func (g *Generator) newModel() *model {
	m := &model{id: g.newID("dpl"), name: pick(g, modelNames), description: pick(g, []string{"", "Production model", "Experimental"}),
		inputType: pick(g, []string{"structured", "plain"}), outputType: pick(g, []string{"structured", "plain"}),
		labels: pick(g, []string{"", "team:ml", "owner:data,tier:1"})}
	for range 1 + g.r.IntN(2) {
		m.versions = append(m.versions, g.newVersion(len(m.versions)+1))
	}
	return m
}

func (g *Generator) newVersion(n int) *version {
	return &version{id: g.newID("ver"), name: "v" + strconv.Itoa(n), language: pick(g, languages),
		instanceType: pick(g, instanceTypes), minInst: 0, maxInst: 1 + g.r.IntN(5), idleSeconds: pick(g, []int{300, 600, 1800}),
		retention: pick(g, []string{"none", "metadata", "full"})}
}

func (g *Generator) newMachine() *machine {
	m := &machine{id: g.newID("pod"), name: pick(g, machineNames), kind: "pod", gpu: pick(g, gpuTypes),
		gpus: pick(g, []int{1, 1, 2, 4, 8}), diskGB: pick(g, []int{50, 100, 200, 500}), image: pick(g, machineImages), status: "running"}
	if g.chance(0.3) {
		m.kind = "vm"
		m.id = "vm" + m.id[3:]
		m.image = pick(g, []string{"ubuntu-24.04-cuda-12.4", "ubuntu-22.04-ml", "debian-12"})
	}
	return m
}
