// compose-check validates a Compose file against the Compose specification with the reference loader
// (compose-go: the JSON schema plus semantic checks such as unknown services in depends_on).
// There is no Docker engine on the build machines, so this is how CI knows infra/docker-compose.yml is valid.
// With --json it prints the resolved project (anchors, extends and variables applied) for the specs to read.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

func main() {
	args := os.Args[1:]
	asJSON := len(args) == 2 && args[0] == "--json"
	if asJSON {
		args = args[1:]
	}
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: compose-check [--json] <compose-file>")
		os.Exit(2)
	}
	opts, err := cli.NewProjectOptions(args, cli.WithOsEnv, cli.WithName("tma"), cli.WithResolvedPaths(true))
	if err == nil {
		var p *types.Project
		p, err = opts.LoadProject(context.Background())
		if err == nil && asJSON {
			var out []byte
			if out, err = p.MarshalJSON(); err == nil {
				fmt.Println(string(out))
				return
			}
		}
		if err == nil {
			fmt.Printf("valid: services %v\n", p.ServiceNames())
			return
		}
	}
	fmt.Fprintf(os.Stderr, "invalid: %v\n", err)
	os.Exit(1)
}
