#!/usr/bin/env node
// A Wechaty puppet-service gateway over a mock puppet, for integration tests.
//
// It serves the real gRPC puppet service (wechaty-puppet-service PuppetServer,
// plaintext HTTP/2, token auth) on top of wechaty-puppet-mock, whose bot user,
// contacts and rooms come from a JSON fixture. A small JSON control API lets a
// test make people talk, read what the bot said, and stop/restart the gRPC
// server in-process.
//
// Usage:
//   node gateway.mjs --fixture FILE [--host 127.0.0.1] [--grpc-port N]
//                    [--control-port N] [--token TOKEN] [--verbose]
// The token may also come from env WECHATY_PUPPET_SERVICE_TOKEN.
// Port 0 (the default) picks a free port. When ready, one line goes to stdout:
//   READY grpc=127.0.0.1:PORT control=127.0.0.1:PORT
// and every event is logged as one line to stderr.

import fs from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { parseArgs } from 'node:util'

import { FileBox } from 'file-box'
import { log as wechatyLog, types as puppetTypes } from 'wechaty-puppet'
import { PuppetMock, mock } from 'wechaty-puppet-mock'
import { PuppetServer } from 'wechaty-puppet-service'
import { grpc } from 'wechaty-grpc'

// A 1x1 transparent PNG, the body of every image a person "sends".
const PIXEL_PNG_BASE64 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=='

// ---------------------------------------------------------------- logging

function logLine (event, fields = {}) {
  const parts = [new Date().toISOString(), 'gateway', event]
  for (const [key, value] of Object.entries(fields)) {
    parts.push(`${key}=${JSON.stringify(value)}`)
  }
  process.stderr.write(parts.join(' ') + '\n')
}

// ---------------------------------------------------------------- options

function parseOptions (argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      fixture: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      'grpc-port': { type: 'string', default: '0' },
      'control-port': { type: 'string', default: '0' },
      token: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  })
  if (values.help) {
    process.stdout.write(
      'usage: node gateway.mjs --fixture FILE [--host H] [--grpc-port N] '
      + '[--control-port N] [--token T] [--verbose]\n',
    )
    process.exit(0)
  }
  if (!values.fixture) {
    throw new Error('--fixture FILE is required')
  }
  const token = values.token || process.env.WECHATY_PUPPET_SERVICE_TOKEN
  if (!token) {
    throw new Error('a token is required: --token or env WECHATY_PUPPET_SERVICE_TOKEN')
  }
  const port = (name) => {
    const n = Number(values[name])
    if (!Number.isInteger(n) || n < 0 || n > 65535) {
      throw new Error(`--${name} must be a port number, got ${values[name]}`)
    }
    return n
  }
  return {
    fixturePath: values.fixture,
    host: values.host,
    grpcPort: port('grpc-port'),
    controlPort: port('control-port'),
    token,
    verbose: values.verbose,
  }
}

// ---------------------------------------------------------------- fixture

/**
 * Validate the fixture and fill in ids. Shape:
 * {
 *   "bot":    {"name": "民情直通车", "id": "wxid_bot"},          (id optional)
 *   "people": [{"name": "唐驻村", "id": "wxid_tang"}],           (id optional)
 *   "rooms":  [{"topic": "楼台村干群连心群", "id": "r1@chatroom", (id optional, must contain @)
 *               "members": ["唐驻村"],                            (names or ids; the bot is always a member)
 *               "aliases": {"唐驻村": "唐书记"}}]                  (optional: room alias by member)
 * }
 */
function loadFixture (path) {
  const raw = JSON.parse(fs.readFileSync(path, 'utf8'))
  const fail = (msg) => { throw new Error(`fixture ${path}: ${msg}`) }
  if (typeof raw !== 'object' || raw === null) fail('must be a JSON object')
  const botRaw = raw.bot || {}
  if (typeof botRaw.name !== 'string' || !botRaw.name) fail('bot.name is required')
  const bot = { id: botRaw.id || 'wxid_bot', name: botRaw.name }

  const people = []
  const byId = new Map([[bot.id, bot]])
  const byName = new Map([[bot.name, bot]])
  for (const [i, p] of (raw.people || []).entries()) {
    if (typeof p.name !== 'string' || !p.name) fail(`people[${i}].name is required`)
    const person = { id: p.id || `wxid_p${i + 1}`, name: p.name }
    if (person.id.includes('@')) fail(`people[${i}].id must not contain @ (that marks a room)`)
    if (byId.has(person.id)) fail(`people[${i}].id ${person.id} is duplicated`)
    byId.set(person.id, person)
    // Two people may share a display name (that is a case the bot must handle);
    // lookups by name then resolve to the first one, and tests should use ids.
    if (!byName.has(person.name)) byName.set(person.name, person)
    people.push(person)
  }

  const rooms = []
  const roomIds = new Set()
  for (const [i, r] of (raw.rooms || []).entries()) {
    if (typeof r.topic !== 'string' || !r.topic) fail(`rooms[${i}].topic is required`)
    const id = r.id || `room${i + 1}@chatroom`
    if (!id.includes('@')) fail(`rooms[${i}].id must contain @, got ${id}`)
    if (roomIds.has(id)) fail(`rooms[${i}].id ${id} is duplicated`)
    roomIds.add(id)
    const memberIds = [bot.id]
    for (const ref of r.members || []) {
      const person = byId.get(ref) || byName.get(ref)
      if (!person) fail(`rooms[${i}].members: unknown person ${ref}`)
      if (!memberIds.includes(person.id)) memberIds.push(person.id)
    }
    const aliases = {}
    for (const [ref, alias] of Object.entries(r.aliases || {})) {
      const person = byId.get(ref) || byName.get(ref)
      if (!person) fail(`rooms[${i}].aliases: unknown person ${ref}`)
      aliases[person.id] = String(alias)
    }
    rooms.push({ id, topic: r.topic, memberIds, aliases })
  }
  return { bot, people, rooms, byId, byName }
}

// ---------------------------------------------------------------- puppet

/**
 * PuppetMock as a real puppet behaves for what the bot needs: sending text
 * keeps the mention list and returns the new message id, room members have
 * their room alias, contacts have no made-up alias.
 */
class GatewayPuppet extends PuppetMock {
  constructor (options, world) {
    super(options)
    this.world = world
  }

  _conversation (conversationId) {
    return /@/.test(conversationId)
      ? this.mocker.RoomMock.load(conversationId)
      : this.mocker.ContactMock.load(conversationId)
  }

  async messageSendText (conversationId, text, mentionIdList) {
    if (!this.isLoggedIn) {
      throw new Error('not logged in')
    }
    const mentionIds = [...(mentionIdList || [])]
    const user = this.mocker.ContactMock.load(this.currentUserId)
    const known = mentionIds
      .filter(id => this.mocker.cacheContactPayload.has(id))
      .map(id => this.mocker.ContactMock.load(id))
    const conversation = this._conversation(conversationId)
    const messageId = this.world.captureMessageId(() => user.say(text, known).to(conversation))
    this.world.recordSent({ conversationId, messageId, type: 'text', text, mentionIds })
    return messageId
  }

  async messageSendFile (conversationId, file) {
    if (!this.isLoggedIn) {
      throw new Error('not logged in')
    }
    const user = this.mocker.ContactMock.load(this.currentUserId)
    const conversation = this._conversation(conversationId)
    const messageId = this.world.captureMessageId(() => user.say(file).to(conversation))
    const payload = this.mocker.cacheMessagePayload.get(messageId)
    this.world.recordSent({
      conversationId,
      messageId,
      type: messageTypeName(payload?.type),
      text: '',
      mentionIds: [],
      fileName: file.name,
    })
    return messageId
  }

  async contactAlias (contactId, alias) {
    if (typeof alias === 'undefined') {
      return this.mocker.contactPayload(contactId).alias || ''
    }
  }

  async roomTopic (roomId, topic) {
    if (typeof topic === 'undefined') {
      return this.mocker.roomPayload(roomId).topic
    }
    return super.roomTopic(roomId, topic)
  }

  async roomMemberRawPayload (roomId, contactId) {
    const contact = this.mocker.contactPayload(contactId)
    const room = this.world.roomById.get(roomId)
    return {
      avatar: contact.avatar || '',
      id: contactId,
      name: contact.name,
      roomAlias: (room && room.aliases[contactId]) || '',
    }
  }
}

// wechaty-puppet message types by number, lower case: 7 -> "text", 6 -> "image"
const MESSAGE_TYPE_NAMES = Object.fromEntries(
  Object.entries(puppetTypes.Message)
    .filter(([, value]) => typeof value === 'number')
    .map(([name, value]) => [value, name.toLowerCase()]),
)

function messageTypeName (type) {
  return MESSAGE_TYPE_NAMES[type] || `type${type}`
}

// ---------------------------------------------------------------- the world

class World {
  constructor (fixture, options) {
    this.fixture = fixture
    this.options = options
    this.roomById = new Map(fixture.rooms.map(r => [r.id, r]))
    this.roomByTopic = new Map(fixture.rooms.map(r => [r.topic, r]))
    this.sent = []        // what the bot user sent
    this.said = []        // what people said through the control API
    this.sentSeq = 0
    this.saidSeq = 0
    this.capturing = null
    this.grpcRunning = false
    this.activeStreams = 0
    this.streamsOpened = 0
    this.authRejections = 0
    this.starts = 0       // gRPC Start() calls by clients
    this.puppetStarts = 0
    this.restarts = 0

    const mocker = new mock.Mocker()
    this.mocker = mocker
    this.puppet = new GatewayPuppet({ mocker }, this)
    // Each PuppetServer.start() adds listeners to the puppet; restarts add up.
    this.puppet.setMaxListeners(0)

    const botPayload = { ...blankContact(), id: fixture.bot.id, name: fixture.bot.name }
    this.botContact = mocker.createContact(botPayload)
    for (const p of fixture.people) {
      mocker.createContact({ ...blankContact(), id: p.id, name: p.name })
    }
    for (const r of fixture.rooms) {
      mocker.createRoom({
        adminIdList: [],
        avatar: '',
        id: r.id,
        memberIdList: [...r.memberIds],
        ownerId: undefined,
        topic: r.topic,
      })
    }

    // The mocker runs its environments on every puppet start, and every
    // client (re)connect stops and starts the puppet: log the bot in each time.
    const world = this
    mocker.use(function loginEnvironment (m) {
      world.puppetStarts += 1
      if (!world.puppet.isLoggedIn) {
        m.login(world.botContact)
      }
      // Real puppets announce "ready" once contacts and rooms are loaded.
      const timer = setTimeout(() => {
        if (world.puppet.isLoggedIn) {
          world.puppet.emit('ready', { data: 'ready' })
        }
      }, 50)
      return () => clearTimeout(timer)
    })

    this.puppet.on('login', ({ contactId }) => logLine('puppet-login', { user: contactId }))
    this.puppet.on('logout', ({ contactId, data }) => logLine('puppet-logout', { user: contactId, reason: data }))
    this.puppet.on('ready', () => logLine('puppet-ready'))
    this.puppet.on('message', ({ messageId }) => {
      if (this.capturing) {
        this.capturing.push(messageId)
      }
    })
    this.server = null
  }

  captureMessageId (fn) {
    const previous = this.capturing
    this.capturing = []
    try {
      fn()
      if (this.capturing.length !== 1) {
        throw new Error(`expected one message event, got ${this.capturing.length}`)
      }
      return this.capturing[0]
    } finally {
      this.capturing = previous
    }
  }

  roomSummary (roomId) {
    const room = this.roomById.get(roomId)
    return room ? room.topic : null
  }

  recordSent ({ conversationId, messageId, type, text, mentionIds, fileName }) {
    const now = this.mocker.cacheMessagePayload.get(messageId)?.timestamp ?? Date.now()
    const isRoom = this.roomById.has(conversationId)
    const entry = {
      seq: ++this.sentSeq,
      ts: now,
      time: new Date(now).toISOString(),
      message_id: messageId,
      type,
      room_id: isRoom ? conversationId : null,
      room: isRoom ? this.roomSummary(conversationId) : null,
      to_id: isRoom ? null : conversationId,
      text,
      mention_ids: mentionIds,
      mention_names: mentionIds.map(id => this.fixture.byId.get(id)?.name ?? null),
    }
    if (fileName) entry.file_name = fileName
    this.sent.push(entry)
    logLine('bot-sent', {
      seq: entry.seq,
      room: entry.room ?? entry.to_id,
      type,
      text,
      mentions: entry.mention_names,
    })
    return entry
  }

  resolvePerson (ref, what) {
    const person = this.fixture.byId.get(ref) || this.fixture.byName.get(ref)
    if (!person) throw new HttpError(400, `unknown ${what}: ${ref}`)
    return person
  }

  resolveRoom (ref) {
    const room = this.roomById.get(ref) || this.roomByTopic.get(ref)
    if (!room) throw new HttpError(400, `unknown room: ${ref}`)
    return room
  }

  /** A person says something in a room, as `contact.say(text, mentioned).to(room)`. */
  say ({ room, sender, text, mentions }) {
    if (typeof text !== 'string') throw new HttpError(400, 'text must be a string')
    if (room === null || room === undefined) return this.sayPrivately({ sender, text })
    const r = this.resolveRoom(room)
    const person = this.resolvePerson(sender, 'sender')
    if (mentions !== undefined && !Array.isArray(mentions)) throw new HttpError(400, 'mentions must be a list')
    const mentioned = (mentions || []).map(ref => this.resolvePerson(ref, 'mention'))
    const contact = this.mocker.ContactMock.load(person.id)
    const roomMock = this.mocker.RoomMock.load(r.id)
    const mentionMocks = mentioned.map(p => this.mocker.ContactMock.load(p.id))
    const messageId = this.captureMessageId(() => contact.say(text, mentionMocks).to(roomMock))
    return this.recordSaid({ messageId, room: r, person, type: 'text', text, mentioned })
  }

  /** A person writes to the bot privately, as `contact.say(text).to(bot)`. */
  sayPrivately ({ sender, text }) {
    const person = this.resolvePerson(sender, 'sender')
    const contact = this.mocker.ContactMock.load(person.id)
    const bot = this.mocker.ContactMock.load(this.fixture.bot.id)
    const messageId = this.captureMessageId(() => contact.say(text).to(bot))
    return this.recordSaid({ messageId, room: null, person, type: 'text', text, mentioned: [] })
  }

  /** A person sends an image (a non-text message) to a room. */
  sendImage ({ room, sender, name }) {
    const r = this.resolveRoom(room)
    const person = this.resolvePerson(sender, 'sender')
    const fileName = name || 'photo.png'
    const fileBox = FileBox.fromBase64(PIXEL_PNG_BASE64, fileName)
    const contact = this.mocker.ContactMock.load(person.id)
    const roomMock = this.mocker.RoomMock.load(r.id)
    const messageId = this.captureMessageId(() => contact.say(fileBox).to(roomMock))
    const payload = this.mocker.cacheMessagePayload.get(messageId)
    return this.recordSaid({
      messageId, room: r, person, type: messageTypeName(payload?.type), text: '', mentioned: [], fileName,
    })
  }

  /** Deliver a message again, with the same id, as real puppets sometimes do. */
  redeliver ({ message_id: messageId }) {
    if (typeof messageId !== 'string' || !this.mocker.cacheMessagePayload.has(messageId)) {
      throw new HttpError(400, `unknown message: ${messageId}`)
    }
    this.puppet.emit('message', { messageId })
    logLine('redelivered', { message_id: messageId, client_connected: this.activeStreams > 0 })
    return { message_id: messageId }
  }

  recordSaid ({ messageId, room, person, type, text, mentioned, fileName }) {
    // the message's own timestamp, as the client sees it in its payload
    const now = this.mocker.cacheMessagePayload.get(messageId)?.timestamp ?? Date.now()
    const entry = {
      seq: ++this.saidSeq,
      ts: now,
      time: new Date(now).toISOString(),
      message_id: messageId,
      type,
      room_id: room ? room.id : null,
      room: room ? room.topic : null,
      sender_id: person.id,
      sender: person.name,
      text,
      mention_ids: mentioned.map(p => p.id),
      mention_names: mentioned.map(p => p.name),
    }
    if (fileName) entry.file_name = fileName
    this.said.push(entry)
    logLine('person-said', {
      seq: entry.seq,
      room: room ? room.topic : null,
      sender: person.name,
      type,
      text,
      mentions: entry.mention_names,
      client_connected: this.activeStreams > 0,
    })
    return entry
  }

  health () {
    return {
      ok: true,
      grpc: `${this.options.host}:${this.options.grpcPort}`,
      control: `${this.options.host}:${this.options.controlPort}`,
      grpc_running: this.grpcRunning,
      logged_in: this.puppet.isLoggedIn,
      user: this.puppet.isLoggedIn ? { id: this.fixture.bot.id, name: this.fixture.bot.name } : null,
      client_connected: this.activeStreams > 0,
      event_streams_opened: this.streamsOpened,
      client_starts: this.starts,
      puppet_starts: this.puppetStarts,
      auth_rejections: this.authRejections,
      restarts: this.restarts,
      last_sent_seq: this.sentSeq,
      last_said_seq: this.saidSeq,
    }
  }

  fixtureView () {
    const name = id => this.fixture.byId.get(id)?.name ?? null
    return {
      bot: this.fixture.bot,
      people: this.fixture.people,
      rooms: this.fixture.rooms.map(r => ({
        id: r.id,
        topic: r.topic,
        members: r.memberIds.map(id => ({ id, name: name(id), alias: r.aliases[id] || '' })),
      })),
    }
  }

  // ------------------------------------------------------------ gRPC server

  async startGrpc () {
    if (this.server) throw new HttpError(409, 'gRPC server is already running')
    const server = new PuppetServer({
      endpoint: `${this.options.host}:${this.options.grpcPort}`,
      puppet: this.puppet,
      tls: { disable: true },
      token: this.options.token,
    })
    await server.start()
    this.server = server
    this.grpcRunning = true
    logLine('grpc-started', { endpoint: `${this.options.host}:${this.options.grpcPort}` })
  }

  async stopGrpc ({ stopPuppet = true } = {}) {
    if (!this.server) throw new HttpError(409, 'gRPC server is not running')
    const server = this.server
    this.server = null
    this.grpcRunning = false
    await server.stop()
    logLine('grpc-stopped')
    if (stopPuppet && this.puppet.state.active()) {
      // A real gateway restart restarts its puppet too: the bot user logs out.
      await this.puppet.stop()
      logLine('puppet-stopped')
    }
  }

  async restartGrpc ({ downMs = 0, stopPuppet = true } = {}) {
    logLine('restart', { down_ms: downMs, stop_puppet: stopPuppet })
    await this.stopGrpc({ stopPuppet })
    if (downMs > 0) await new Promise(resolve => setTimeout(resolve, downMs))
    await this.startGrpc()
    if (stopPuppet) await this.startPuppet()
    this.restarts += 1
  }

  /** Start the puppet and wait (bounded) until the mock has logged the bot user in. */
  async startPuppet (timeoutMs = 5000) {
    await this.puppet.start()
    const deadline = Date.now() + timeoutMs
    while (!this.puppet.isLoggedIn) {
      if (Date.now() > deadline) throw new Error(`bot user not logged in ${timeoutMs} ms after puppet start`)
      await new Promise(resolve => setTimeout(resolve, 5))
    }
  }
}

function blankContact () {
  return {
    address: '',
    alias: '',
    avatar: '',
    city: '',
    friend: true,
    gender: 0,
    phone: [],
    province: '',
    signature: '',
    star: false,
    type: 1,
    weixin: '',
  }
}

// Watch the gRPC PuppetService: who connects, who is refused, which calls
// mark a client (re)connecting (Stop, Start, Event).
function instrumentGrpc (world) {
  const addService = grpc.Server.prototype.addService
  grpc.Server.prototype.addService = function (service, implementation) {
    if (implementation && typeof implementation.event === 'function'
        && typeof implementation.messageSendText === 'function') {
      const wrapped = {}
      for (const [name, handler] of Object.entries(implementation)) {
        wrapped[name] = function (call, callback) {
          const authorization = call.metadata?.get('authorization')?.[0]
          const authorized = authorization === `Wechaty ${world.options.token}`
          if (!authorized) {
            world.authRejections += 1
            logLine('auth-rejected', { method: name, authorization: authorization ?? null })
            return handler.call(this, call, callback)
          }
          if (name === 'event') {
            world.activeStreams += 1
            world.streamsOpened += 1
            logLine('client-connected', { streams: world.activeStreams })
            let ended = false
            const end = (how) => {
              if (ended) return
              ended = true
              world.activeStreams -= 1
              logLine('client-disconnected', { how, streams: world.activeStreams })
            }
            for (const how of ['cancelled', 'close', 'finish', 'error']) {
              call.on(how, () => end(how))
            }
          } else if (name === 'start') {
            world.starts += 1
            logLine('client-start')
          } else if (name === 'stop') {
            logLine('client-stop')
          } else if (world.options.verbose) {
            logLine('grpc-call', { method: name })
          }
          return handler.call(this, call, callback)
        }
      }
      return addService.call(this, service, wrapped)
    }
    return addService.call(this, service, implementation)
  }
}

// ---------------------------------------------------------------- control API

class HttpError extends Error {
  constructor (status, message) {
    super(message)
    this.status = status
  }
}

async function readJson (req) {
  const chunks = []
  for await (const chunk of req) chunks.push(chunk)
  const body = Buffer.concat(chunks).toString('utf8')
  if (!body.trim()) return {}
  let value
  try {
    value = JSON.parse(body)
  } catch (e) {
    throw new HttpError(400, `invalid JSON body: ${e.message}`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HttpError(400, 'the JSON body must be an object')
  }
  return value
}

function sinceParam (url) {
  const since = Number(url.searchParams.get('since') ?? '0')
  if (!Number.isInteger(since) || since < 0) throw new HttpError(400, 'since must be a non-negative integer')
  return since
}

function controlHandler (world, shutdown) {
  return async (req, res) => {
    const url = new URL(req.url, 'http://control')
    const route = `${req.method} ${url.pathname}`
    let status = 200
    let body
    try {
      switch (route) {
        case 'GET /health':
          body = world.health()
          break
        case 'GET /fixture':
          body = world.fixtureView()
          break
        case 'POST /say':
          body = { ok: true, message: world.say(await readJson(req)) }
          break
        case 'POST /image':
          body = { ok: true, message: world.sendImage(await readJson(req)) }
          break
        case 'POST /redeliver':
          body = { ok: true, ...world.redeliver(await readJson(req)) }
          break
        case 'GET /sent': {
          const since = sinceParam(url)
          body = { messages: world.sent.filter(m => m.seq > since), last_seq: world.sentSeq }
          break
        }
        case 'GET /said': {
          const since = sinceParam(url)
          body = { messages: world.said.filter(m => m.seq > since), last_seq: world.saidSeq }
          break
        }
        case 'POST /restart': {
          const opts = await readJson(req)
          await world.restartGrpc({ downMs: Number(opts.down_ms || 0), stopPuppet: opts.stop_puppet !== false })
          body = { ok: true, health: world.health() }
          break
        }
        case 'POST /stop': {
          const opts = await readJson(req)
          await world.stopGrpc({ stopPuppet: opts.stop_puppet !== false })
          body = { ok: true, health: world.health() }
          break
        }
        case 'POST /start': {
          await world.startGrpc()
          if (!world.puppet.state.active()) await world.startPuppet()
          body = { ok: true, health: world.health() }
          break
        }
        case 'POST /shutdown':
          body = { ok: true }
          setImmediate(() => shutdown('control-api'))
          break
        default:
          throw new HttpError(404, `no route ${route}`)
      }
    } catch (e) {
      status = e instanceof HttpError ? e.status : 500
      body = { ok: false, error: e.message }
      logLine('control-error', { route, status, error: e.message })
    }
    const text = JSON.stringify(body)
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
    })
    res.end(text)
  }
}

// ---------------------------------------------------------------- main

function freePort (host) {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, host, () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

async function main () {
  // grpc-js warns that Server.start() is deprecated; PuppetServer calls it.
  process.noDeprecation = true
  const options = parseOptions(process.argv.slice(2))
  wechatyLog.level(process.env.WECHATY_LOG || (options.verbose ? 'info' : 'error'))
  const fixture = loadFixture(options.fixturePath)

  if (options.grpcPort === 0) options.grpcPort = await freePort(options.host)

  const world = new World(fixture, options)
  instrumentGrpc(world)

  let stopping = false
  const control = http.createServer()
  const shutdown = async (why) => {
    if (stopping) return
    stopping = true
    logLine('shutdown', { why })
    try {
      if (world.server) await world.stopGrpc({ stopPuppet: true })
    } catch (e) {
      logLine('shutdown-error', { error: e.message })
    }
    control.close()
    process.exit(0)
  }
  control.on('request', controlHandler(world, shutdown))
  await new Promise((resolve, reject) => {
    control.once('error', reject)
    control.listen(options.controlPort, options.host, resolve)
  })
  options.controlPort = control.address().port

  await world.startGrpc()
  await world.startPuppet()

  process.on('SIGTERM', () => shutdown('SIGTERM'))
  process.on('SIGINT', () => shutdown('SIGINT'))

  logLine('ready', {
    grpc: `${options.host}:${options.grpcPort}`,
    control: `${options.host}:${options.controlPort}`,
    rooms: fixture.rooms.length,
    people: fixture.people.length,
  })
  process.stdout.write(`READY grpc=${options.host}:${options.grpcPort} control=${options.host}:${options.controlPort}\n`)
}

main().catch((e) => {
  logLine('fatal', { error: e.message })
  process.stderr.write((e.stack || String(e)) + '\n')
  process.exit(1)
})
