package bench

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Machine describes where a benchmark ran.
type Machine struct {
	Cores      int       `json:"cores"`
	MemoryMiB  int64     `json:"memory_mib"`
	CPU        string    `json:"cpu"`
	GoVersion  string    `json:"go_version"`
	OS         string    `json:"os"`
	Store      string    `json:"store"`
	Date       time.Time `json:"date"`
	LoadBefore string    `json:"loadavg_before"` // /proc/loadavg's first three fields at the start
	LoadAfter  string    `json:"loadavg_after"`  // and at the end
}

// machine returns the description of this machine.
func machine(store string) Machine {
	m := Machine{
		Cores:     runtime.NumCPU(),
		GoVersion: runtime.Version(),
		OS:        runtime.GOOS + "/" + runtime.GOARCH,
		Store:     store,
		Date:      time.Now().UTC().Truncate(time.Second),
	}
	if kb, ok := procField("/proc/meminfo", "MemTotal"); ok {
		if n, err := strconv.ParseInt(strings.Fields(kb)[0], 10, 64); err == nil {
			m.MemoryMiB = n / 1024
		}
	}
	if cpu, ok := procField("/proc/cpuinfo", "model name"); ok {
		m.CPU = cpu
	}
	m.LoadBefore = loadAvg()
	return m
}

// procField returns the value of the first "name: value" line of a /proc file.
func procField(path, name string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// loadAvg returns the 1, 5 and 15 minute load averages, or "" where
// /proc/loadavg does not exist.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
