// Translation unit that owns the precompiled header (see CMakeLists.txt, framecast_pch).
#include "util/pch.h"
