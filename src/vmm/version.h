/* The version of this build (nestvm --version; recorded in snapshots). */
#ifndef NESTVM_VMM_VERSION_H
#define NESTVM_VMM_VERSION_H

#define NESTVM_VERSION "0.3.0"

#endif
