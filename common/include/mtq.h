/* mtq.h - everything a program using libmtq needs. */
#ifndef MTQ_H
#define MTQ_H

#include "mtq_client.h"
#include "mtq_config.h"
#include "mtq_error.h"
#include "mtq_function.h"
#include "mtq_log.h"
#include "mtq_perf.h"
#include "mtq_schedule.h"
#include "mtq_state.h"
#include "mtq_store.h"
#include "mtq_store_admin.h"
#include "mtq_store_coord.h"
#include "mtq_store_worker.h"
#include "mtq_task.h"
#include "mtq_whoami.h"

#endif
