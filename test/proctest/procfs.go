package proctest

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// Stat is what /proc/<pid>/stat says of a process.
type Stat struct {
	Comm  string
	State byte // R, S, D, Z (a zombie waiting to be reaped), X (dead), ...
	PPID  int
	CPU   time.Duration // user and system time so far
}

// clockTicks is USER_HZ, the unit of the CPU times in /proc: 100 on Linux.
const clockTicks = 100

// ReadStat reads /proc/<pid>/stat; false when the process is gone.
func ReadStat(pid int) (Stat, bool) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, false
	}
	// "<pid> (<comm>) <state> <ppid> ...": comm may hold spaces and parentheses, so the
	// fields are counted after its last closing parenthesis.
	s := string(raw)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return Stat{}, false
	}
	fields := strings.Fields(s[closing+1:])
	if len(fields) < 13 {
		return Stat{}, false
	}
	ppid, err := strconv.Atoi(fields[1])
	if err != nil {
		return Stat{}, false
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return Stat{
		Comm: s[open+1 : closing], State: fields[0][0], PPID: ppid,
		CPU: time.Duration(utime+stime) * time.Second / clockTicks,
	}, true
}

// Descendants lists every process below pid, children first.
func Descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := ReadStat(child); ok {
			children[st.PPID] = append(children[st.PPID], child)
		}
	}
	var out []int
	for queue := []int{pid}; len(queue) > 0; queue = queue[1:] {
		out = append(out, children[queue[0]]...)
		queue = append(queue, children[queue[0]]...)
	}
	return out
}

// Memory is what /proc/<pid>/status says of a process's resident memory, in bytes.
type Memory struct {
	// RSS is resident now (VmRSS); PeakRSS is the most it has been resident at once
	// since it started (VmHWM), so that a short peak between two reads is not missed.
	RSS, PeakRSS int64
}

// ReadMemory reads /proc/<pid>/status; false when the process is gone.
func ReadMemory(pid int) (Memory, bool) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return Memory{}, false
	}
	var m Memory
	found := 0
	for line := range strings.Lines(string(raw)) {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var field *int64
		switch name {
		case "VmRSS":
			field = &m.RSS
		case "VmHWM":
			field = &m.PeakRSS
		default:
			continue
		}
		kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return Memory{}, false
		}
		*field = kib << 10
		found++
	}
	return m, found == 2
}
