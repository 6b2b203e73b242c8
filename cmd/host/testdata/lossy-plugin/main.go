// Command lossy-plugin is a broken driver for the tests of `host conform`:
// the loopback, except that every Send keeps only its first 1,000 bytes.
package main

import (
	"context"

	"github.com/ifsock/ifsock/plugins/loopback"
	"github.com/ifsock/ifsock/sdk"
	"github.com/ifsock/ifsock/sdk/sdkplugin"
)

type lossy struct{ *loopback.Driver }

func (d lossy) Send(ctx context.Context, s sdk.Socket, data []byte) error {
	return d.Driver.Send(ctx, s, data[:min(len(data), 1000)])
}

func main() { sdkplugin.Serve(lossy{loopback.New()}) }
