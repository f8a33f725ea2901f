package deploy

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestChartRefreshTokenStore: the kubernetes store gets the token server exactly the
// RefreshTokenFamilies of its namespace; the postgres store gets it none of them, and
// its connection string from the Secret, never in an argument.
func TestChartRefreshTokenStore(t *testing.T) {
	for _, c := range []struct {
		name      string
		set       []string
		wantStore string
		wantRule  bool
		wantEnv   bool
	}{
		{"default", nil, "kubernetes", true, false},
		{"postgres", []string{"--set", "refreshTokens.store=postgres,refreshTokens.postgres.existingSecret=refresh-db,refreshTokens.postgres.key=url"}, "postgres", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			objs := renderChart(t, c.set...)
			tokenServer := find(t, objs, "Deployment", "gatehouse-tokenserver")
			if args := containerArgs(t, tokenServer); !slices.Contains(args, "--refresh-token-store="+c.wantStore) {
				t.Errorf("token server args %v lack --refresh-token-store=%s", args, c.wantStore)
			}
			rules, _, _ := unstructured.NestedSlice(find(t, objs, "Role", "gatehouse-tokenserver").Object, "rules")
			var families []map[string]any
			for _, r := range rules {
				rule := r.(map[string]any)
				if slices.Contains(rule["apiGroups"].([]any), any("tokenserver.gatehouse.dev")) {
					families = append(families, rule)
				}
			}
			if got := len(families) == 1; got != c.wantRule {
				t.Fatalf("the token server's Role grants %v on tokenserver.gatehouse.dev, want a rule: %v", families, c.wantRule)
			}
			if c.wantRule {
				if resources := families[0]["resources"].([]any); len(resources) != 1 || resources[0] != "refreshtokenfamilies" {
					t.Errorf("the Role grants %v, want refreshtokenfamilies only", resources)
				}
			}
			containers, _, _ := unstructured.NestedSlice(tokenServer.Object, "spec", "template", "spec", "containers")
			env, _, _ := unstructured.NestedSlice(containers[0].(map[string]any), "env")
			var dsn map[string]any
			for _, e := range env {
				if e.(map[string]any)["name"] == "GATEHOUSE_REFRESH_TOKEN_POSTGRES_DSN" {
					dsn = e.(map[string]any)
				}
			}
			if (dsn != nil) != c.wantEnv {
				t.Fatalf("the DSN variable %v, want one: %v", dsn, c.wantEnv)
			}
			if c.wantEnv {
				ref, _, _ := unstructured.NestedStringMap(dsn, "valueFrom", "secretKeyRef")
				if ref["name"] != "refresh-db" || ref["key"] != "url" || dsn["value"] != nil {
					t.Errorf("the DSN variable is %v, want it from Secret refresh-db key url", dsn)
				}
			}
			for _, arg := range containerArgs(t, tokenServer) {
				if strings.Contains(arg, "postgres://") {
					t.Errorf("an argument holds a connection string: %s", arg)
				}
			}
		})
	}
}
