# The distributed deployment: one image, run as `serve` (web) or `worker` (compose.yaml).
# --build-arg WITH_ML=1 adds Detoxify with the CPU build of torch (its weights are not in
# the image: mount them and set INTAKE_DETOXIFY_CHECKPOINT, or let `auto` use the lexicon).
FROM python:3.11-slim
ARG WITH_ML=0
ARG TORCH=2.13.0
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    INTAKE_HTTP_HOST=0.0.0.0 INTAKE_HTTP_PORT=8080 INTAKE_DATA_DIR=/data
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY channels ./channels
COPY moderation ./moderation
# The customer texts' gettext catalogs compile to .mo first, so the install ships them.
RUN pip install --no-cache-dir "babel>=2.16" \
    && pybabel -q compile -d bot/text/locales -D core \
    && pybabel -q compile -d channels/locales -D channels \
    && if [ "$WITH_ML" = "1" ]; then \
         pip install --no-cache-dir "torch==$TORCH" --index-url https://download.pytorch.org/whl/cpu \
         && pip install --no-cache-dir ".[ml]" "torch==$TORCH"; \
       else pip install --no-cache-dir .; fi \
    && useradd --system --home /data intake \
    && mkdir -p /data && chown intake /data
USER intake
VOLUME /data
# 2525: the inbound SMTP server, when INTAKE_MAIL_DOMAINS is set and
# INTAKE_SMTP_LISTEN=0.0.0.0:2525 (run it on one web container only).
EXPOSE 8080 2525
HEALTHCHECK CMD python -c "import urllib.request,os;urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"INTAKE_HTTP_PORT\"]}/healthz')"
ENTRYPOINT ["intake-bot"]
CMD ["serve"]
