// `framecast runs ...`, dispatched from src/cli/main.cc.
#pragma once

namespace fc::log {

// framecast runs list DIR: see log/runs_list.h.
int RunsCommand(int argc, char** argv, int first);

}  // namespace fc::log
