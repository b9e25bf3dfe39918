/* SPDX-License-Identifier: Apache-2.0 */
#include "basic/macro.h"
