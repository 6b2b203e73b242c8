package sdk_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportDirection keeps the layering of design.md: the contract (sdk,
// and the conformance suite under it) imports nothing from the core or the
// drivers, the contract itself no RPC code, and the drivers never import
// the core.
func TestImportDirection(t *testing.T) {
	for pkg, forbidden := range map[string][]string{
		"github.com/ifsock/ifsock/sdk/...": {"github.com/ifsock/ifsock/core", "github.com/ifsock/ifsock/plugins/", "github.com/ifsock/ifsock/cmd/"},
		// The contract a driver author reads drags no RPC code into a
		// driver: serving lives in sdk/sdkplugin.
		"github.com/ifsock/ifsock/sdk": {"github.com/ifsock/ifsock/internal/", "google.golang.org/grpc", "google.golang.org/protobuf",
			"github.com/hashicorp/go-plugin"},
		"github.com/ifsock/ifsock/plugins/...": {"github.com/ifsock/ifsock/core", "github.com/ifsock/ifsock/cmd/"},
	} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if dep == f || strings.HasPrefix(dep, f+"/") || strings.HasPrefix(dep, f) && strings.HasSuffix(f, "/") {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
}
