package ldaptest

import (
	"os/exec"
	"strings"
	"testing"
)

func TestServerAcceptsEntriesAndSurvivesRestart(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	if err := s.Add("dn: ou=people," + BaseDN + "\nobjectClass: organizationalUnit\nou: people\n"); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ldapsearch", "-x", "-LLL", "-H", s.LDAPURL, "-D", AdminDN, "-y", s.adminPwFile,
		"-b", BaseDN, "(ou=people)", "dn").CombinedOutput()
	if err != nil {
		t.Fatalf("ldapsearch: %v: %s", err, out)
	}
	if !strings.Contains(string(out), "ou=people,"+BaseDN) {
		t.Fatalf("entry lost across restart: %s", out)
	}
}
