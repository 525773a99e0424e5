/*
 * The resource table: "/v1/<resource>/..." goes to one handler per resource. Each handler
 * then dispatches on the method and the rest of the path itself (h_*.c).
 */
#include <string.h>

#include "http/internal.h"

static const struct {
    const char *name;
    hub_handler_fn fn;
} routes[] = {
    {"audit", hub_h_audit},
    {"changes", hub_h_changes},
    {"content", hub_h_content},
    {"deliveries", hub_h_deliveries},
    {"events", hub_h_events},
    {"inbox", hub_h_inbox},
    {"items", hub_h_items},
    {"reports", hub_h_reports},
    {"journeys", hub_h_journeys},
    {"locales", hub_h_locales},
    {"render", hub_h_render},
    {"taxonomy", hub_h_taxonomy},
    {"tokens", hub_h_tokens},
    {"webhooks", hub_h_webhooks},
    {"translations", hub_h_translations},
};

hub_handler_fn hub_route_find(const char *resource)
{
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (strcmp(routes[i].name, resource) == 0)
            return routes[i].fn;
    return NULL;
}
