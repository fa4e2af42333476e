# hubsync: one static binary on a small base with busybox wget for healthchecks.
FROM golang:1.26-alpine AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/hubsync ./cmd/hubsync

FROM alpine:3.22
RUN adduser -D -H -u 10001 hubsync
COPY --from=build /out/hubsync /usr/local/bin/hubsync
USER hubsync
EXPOSE 9090 8360
ENTRYPOINT ["hubsync"]
CMD ["serve"]
