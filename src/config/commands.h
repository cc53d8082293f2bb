// Config subcommands: `framecast config check CONFIG [--set path=value ...] [--ranks N]` validates
// a run config and prints the effective config (defaults applied, overrides merged).
#pragma once

namespace fc::config {

int ConfigCommand(int argc, char** argv, int first);

}  // namespace fc::config
