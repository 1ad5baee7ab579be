# A cluster-agents host worker. docker-compose.yml runs three; on a real host run one per machine:
#   docker run -e TEMPORAL_ADDRESS=temporal.example:7233 -p 7946:7946 IMAGE --node-id "$(hostname)" --address HOST_IP
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY scripts ./scripts
# Bundle the workflows once at build time instead of at every start.
RUN node --import tsx scripts/bundle-workflows.ts /app/workflow-bundle.js
ENV CLUSTER_WORKFLOW_BUNDLE=/app/workflow-bundle.js
EXPOSE 7946
ENTRYPOINT ["node", "--import", "tsx", "src/workers/host-worker.ts"]
