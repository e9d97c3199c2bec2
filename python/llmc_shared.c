/* The shared libllmc.so that the Python package (python/llmc) loads with ctypes: the whole static
 * library linked in (CMakeLists.txt, LLMC_SHARED), with one symbol of its own so a binding can
 * check that the library it found is the one it was built with. */
#include "llmc.h"

const char *llmc_shared_version(void) { return LLMC_VERSION; }
