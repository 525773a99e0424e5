#!/bin/sh
# Installs what is missing, builds, loads content-samples/ into ./data (first run only),
# creates an admin token and starts the server on 127.0.0.1:8080.
#   OMNIHUB_DATA=dir  data directory (default ./data)
#   OMNIHUB_LISTEN=host:port (default 127.0.0.1:8080)
set -eu
cd "$(dirname "$0")"
./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
DATA=${OMNIHUB_DATA:-./data}
LISTEN=${OMNIHUB_LISTEN:-127.0.0.1:8080}
if [ ! -f "$DATA/data.mdb" ]; then
    mkdir -p "$DATA"
    build/omnihub import --data "$DATA" content-samples
fi
TOKEN=$(build/omnihub token create --data "$DATA" --role admin --name "admin-$(date +%s)")
cat <<MSG

omnihub is starting on http://$LISTEN (data in $DATA). Your admin token:

  $TOKEN

Try:
  curl -s -H "Authorization: Bearer $TOKEN" http://$LISTEN/v1/locales
  curl -s -H "Authorization: Bearer $TOKEN" 'http://$LISTEN/v1/items?tag=journey/onboarding'
  curl -s -H "Authorization: Bearer $TOKEN" 'http://$LISTEN/v1/content/onboarding/welcome?channel=email&locale=de-AT'
  curl -s -H "Authorization: Bearer $TOKEN" 'http://$LISTEN/v1/content/onboarding/welcome?channel=sms&locale=fr&subject=cust-42'
  curl -s -H "Authorization: Bearer $TOKEN" 'http://$LISTEN/v1/journeys/onboarding/steps/welcome?locale=de&subject=cust-7'
  curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' http://$LISTEN/v1/events \
       -d '[{"type":"conversion","subject":"cust-42","item":"onboarding/welcome","action":"action/open-account","value":120}]'
  curl -s -H "Authorization: Bearer $TOKEN" http://$LISTEN/v1/reports/items/onboarding/welcome
  curl -s -H "Authorization: Bearer $TOKEN" 'http://$LISTEN/v1/reports/attribution?action=action/open-account&model=linear'
  curl -s -H "Authorization: Bearer $TOKEN" http://$LISTEN/v1/changes
  curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' http://$LISTEN/v1/render \
       -d '{"item":"onboarding/welcome","channel":"sms","locale":"de-AT","recipient":{"id":"cust-42","attributes":{"first_name":"Jörg"}}}'
  # send a journey step (email and SMS go to the outbox: ls $DATA/outbox/email $DATA/outbox/sms)
  curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -H 'Idempotency-Key: try-1' http://$LISTEN/v1/journeys/application-abandonment/steps/day-1/send -d '{"recipient":{"id":"cust-42","locale":"de-AT","email":"j@example.org","phone":"+436641234567","attributes":{"first_name":"Jörg"}}}'
  curl -s -H "Authorization: Bearer $TOKEN" 'http://$LISTEN/v1/deliveries?status=delivered'
  # what the French translators still have to do, as XLIFF; translate it, then send it back
  curl -s -H "Authorization: Bearer $TOKEN" -o fr.xlf 'http://$LISTEN/v1/translations/export?locale=fr&tag=journey/onboarding'
  curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/xliff+xml' --data-binary @fr.xlf http://$LISTEN/v1/translations/import
  build/omnihub render --data $DATA --item onboarding/welcome --channel email --locale fr \
       --attributes '{"first_name":"Léa"}'     # the same from the command line

Stop with Ctrl-C.
MSG
exec build/omnihub serve --data "$DATA" --listen "$LISTEN"
