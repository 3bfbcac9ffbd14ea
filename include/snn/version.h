/* version.h: the release of libsnn, snnctl and snnd (one number for all). */
#ifndef SNN_VERSION_H
#define SNN_VERSION_H

#define SNN_VERSION "0.1.0"

#endif
