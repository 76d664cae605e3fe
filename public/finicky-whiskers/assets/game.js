/*
 * Finicky Whiskers: browser side of spinet's demo game.
 *
 * Talks to four HTTP endpoints, each backed by a WebAssembly component:
 *   GET  /session                          -> {id, menu: [{demand, offset}]}
 *   GET  /tally?ulid=&food=&correct=       -> one per click
 *   GET  /score?ulid=                      -> {ulid, beef, fish, chicken, veg, total}
 *   POST /highscore {score, ulid, username} -> {is_high_score, rank, high_score_table}
 */
(function () {
  'use strict';

  if (!window.jQuery) {
    // The vendored libraries are copied in by components/finicky-whiskers/build-site.mjs.
    var box = document.getElementById('errorBox');
    document.getElementById('errorMessage').textContent =
      'jQuery did not load (vendor/jquery.min.js). Serve the built site ' +
      '(node components/finicky-whiskers/build-site.mjs), not public/ directly.';
    box.hidden = false;
    return;
  }

  var $ = window.jQuery;

  var GAME_SECONDS = 30;
  var FOODS = ['veg', 'fish', 'chicken', 'beef'];
  var KEYS = { w: 'fish', a: 'veg', s: 'chicken', d: 'beef' };
  var NAMES = { fish: 'fish', veg: 'veg', chicken: 'chicken', beef: 'beef' };
  var CAT = {
    neutral: { src: 'assets/img/cat-neutral.svg', alt: 'The cat, waiting' },
    happy: { src: 'assets/img/cat-happy.svg', alt: 'The cat, happy' },
    puzzled: { src: 'assets/img/cat-puzzled.svg', alt: 'The cat, puzzled' }
  };
  var MOOD_MS = 420;
  var API = (document.documentElement.getAttribute('data-api-base') || '').replace(/\/+$/, '');

  var state = {
    phase: 'idle', // idle | starting | playing | ending | over
    gen: 0, // bumped on every (re)start; stale async work checks it
    ulid: null,
    want: null,
    menuTimers: [],
    tickTimer: null,
    moodTimer: null,
    startedAt: 0,
    timeLeft: GAME_SECONDS,
    clicks: 0,
    wasm: 0,
    score: 0,
    finalScore: 0,
    scoreSeq: 0,
    scoreApplied: 0,
    pending: [],
    tallyErrors: 0,
    savingName: false
  };

  // ---------------------------------------------------------------- helpers

  function delay(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  function ApiError(message) {
    this.name = 'ApiError';
    this.message = message;
  }
  ApiError.prototype = Object.create(Error.prototype);

  /**
   * fetch() wrapper: counts Wasm instances (every HTTP response came from one;
   * `instances` lets /tally count its Redis-trigger follow-up), turns network
   * failures, non-2xx statuses and bad JSON into ApiError with a readable message.
   */
  function api(path, opts) {
    opts = opts || {};
    var init = { method: opts.method || 'GET', cache: 'no-store', headers: {} };
    if (opts.json !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(opts.json);
    }
    var what = opts.what || path;
    return fetch(API + path, init).then(function (res) {
      addWasm(res.ok ? (opts.instances || 1) : 1);
      return res.text().then(function (text) {
        if (!res.ok) {
          var detail = text.trim().slice(0, 160);
          throw new ApiError(what + ' (HTTP ' + res.status + (detail ? ': ' + detail : '') + ').');
        }
        if (!opts.parse) return text;
        try {
          return JSON.parse(text);
        } catch (e) {
          throw new ApiError(what + ': the reply was not valid JSON.');
        }
      });
    }, function (err) {
      throw new ApiError(what + ': the server could not be reached (' + (err && err.message || err) + ').');
    });
  }

  // Dialogs move down while the error banner is up, so it never hides their title.
  function showError(message) {
    $('#errorMessage').text(message);
    var box = $('#errorBox').prop('hidden', false)[0];
    document.documentElement.style.setProperty('--fw-error-room', (box.offsetHeight + 20) + 'px');
    $('body').addClass('has-error');
  }

  function hideError() {
    $('#errorBox').prop('hidden', true);
    $('#errorMessage').text('');
    $('body').removeClass('has-error');
  }

  function restartAnimation($el, cls) {
    $el.removeClass(cls);
    void $el[0].offsetWidth; // force a reflow so the animation runs again
    $el.addClass(cls);
  }

  function addWasm(n) {
    state.wasm += n;
    $('#wasmCount, #finalWasm').text(state.wasm);
  }

  // --------------------------------------------------------------- rendering

  function renderTimer() {
    $('#timer').text(state.timeLeft);
    $('#timeBar').css('width', (100 * state.timeLeft / GAME_SECONDS) + '%');
    $('.fw-stat-time').toggleClass('is-urgent', state.phase === 'playing' && state.timeLeft <= 5);
  }

  function renderScore(total) {
    var changed = total !== state.score;
    state.score = total;
    $('#scoreTotal').text(total);
    if (changed) restartAnimation($('.fw-stat-score'), 'is-bumped');
  }

  function setWant(food) {
    state.want = food;
    var $stage = $('#stage').attr('data-want', food || '');
    $('.fw-food').each(function () {
      var isIt = food !== null && this.getAttribute('data-food') === food;
      $(this).toggleClass('correct', isIt).attr('data-correct', String(isIt));
    });
    if (food) {
      $('#bubbleFood').attr({ src: 'assets/img/' + food + '.svg', alt: NAMES[food] });
      $('#bubble').prop('hidden', false);
      restartAnimation($('#bubble'), 'is-popping');
      $('#wantText').text('The cat wants ' + NAMES[food] + '!');
    } else {
      $('#bubble').prop('hidden', true);
    }
    return $stage;
  }

  function setMood(mood) {
    clearTimeout(state.moodTimer);
    var cat = CAT[mood];
    $('#catFace').attr({ src: cat.src, alt: cat.alt });
    var $stage = $('#stage').attr('data-mood', mood);
    $stage.removeClass('is-happy is-puzzled');
    if (mood !== 'neutral') {
      restartAnimation($stage, 'is-' + mood);
      state.moodTimer = setTimeout(function () { setMood('neutral'); }, MOOD_MS);
    }
  }

  function setFoodsEnabled(on) {
    $('.fw-food').prop('disabled', !on);
    $('#foods').toggleClass('is-live', on);
  }

  function openModal(id, focusId) {
    $('.fw-modal').removeClass('is-active');
    $('#' + id).addClass('is-active');
    $('#app').prop('inert', true).attr('aria-hidden', 'true');
    if (focusId) $('#' + focusId).trigger('focus');
  }

  function closeModals() {
    $('.fw-modal').removeClass('is-active');
    $('#app').prop('inert', false).removeAttr('aria-hidden');
  }

  function setBusy($btn, busy) {
    $btn.toggleClass('is-loading', busy).prop('disabled', busy);
  }

  // ------------------------------------------------------------------- game

  function resetRound() {
    state.menuTimers.forEach(clearTimeout);
    state.menuTimers = [];
    clearTimeout(state.tickTimer);
    clearTimeout(state.moodTimer);
    state.ulid = null;
    state.clicks = 0;
    state.wasm = 0;
    state.score = 0;
    state.finalScore = 0;
    state.scoreSeq = 0;
    state.scoreApplied = 0;
    state.pending = [];
    state.tallyErrors = 0;
    state.savingName = false;
    state.timeLeft = GAME_SECONDS;
    $('#scoreTotal').text('0');
    $('#clickCount').text('0');
    $('#wasmCount').text('0');
    $('#nameForm').prop('hidden', true);
    $('#highScores').prop('hidden', true);
    $('#highScoreRows').empty();
    $('#highScoreStatus').text('');
    setWant(null);
    setMood('neutral');
    renderTimer();
  }

  function validMenu(menu) {
    if (!Array.isArray(menu)) return [];
    return menu.filter(function (item) {
      return item && FOODS.indexOf(item.demand) !== -1 &&
        typeof item.offset === 'number' && isFinite(item.offset) && item.offset >= 0;
    });
  }

  function startGame() {
    if (state.phase === 'starting' || state.phase === 'playing') return;
    hideError();
    var gen = ++state.gen;
    resetRound();
    state.phase = 'starting';
    var $buttons = $('#startButton, #playAgain');
    setBusy($buttons, true);
    $('#startStatus').text('Asking the server for a new session…');

    // The server accepts clicks for 30 s after it mints the session id, so the
    // game clock starts when we ask for the session, not when the answer lands.
    var requestedAt = Date.now();
    api('/session', { parse: true, what: 'The server refused the session' }).then(function (session) {
      if (gen !== state.gen) return;
      var menu = validMenu(session && session.menu);
      if (!session || typeof session.id !== 'string' || !session.id) {
        throw new ApiError('The server sent a session without an id.');
      }
      if (!menu.length) {
        throw new ApiError('The server sent a session without a usable menu.');
      }
      setBusy($buttons, false);
      $('#startStatus').text('');
      beginRound(gen, session.id, menu, requestedAt);
    }).catch(function (err) {
      if (gen !== state.gen) return;
      state.phase = 'idle';
      setBusy($buttons, false);
      $('#startStatus').text('Could not start the game. Try again in a moment.');
      showError(err.message);
      if (!$('#endModal').hasClass('is-active')) openModal('startModal', 'startButton');
    });
  }

  function beginRound(gen, ulid, menu, startedAt) {
    state.ulid = ulid;
    state.phase = 'playing';
    closeModals();
    setFoodsEnabled(true);
    $('#food-fish').trigger('focus');

    state.startedAt = startedAt;
    var late = Date.now() - startedAt;
    menu.forEach(function (item) {
      if (item.offset >= GAME_SECONDS * 1000) return;
      state.menuTimers.push(setTimeout(function () {
        if (gen === state.gen && state.phase === 'playing') setWant(item.demand);
      }, Math.max(0, item.offset - late)));
    });
    renderTimer();
    fetchScore(gen);
    scheduleTick(gen);
  }

  // Ticks are scheduled against the start time so they do not drift.
  function scheduleTick(gen) {
    var due = state.startedAt + (GAME_SECONDS - state.timeLeft + 1) * 1000;
    state.tickTimer = setTimeout(function () { tick(gen); }, Math.max(0, due - Date.now()));
  }

  function tick(gen) {
    if (gen !== state.gen || state.phase !== 'playing') return;
    state.timeLeft -= 1;
    renderTimer();
    if (state.timeLeft <= 0) {
      endGame(gen);
    } else {
      fetchScore(gen);
      scheduleTick(gen);
    }
  }

  function fetchScore(gen) {
    var seq = ++state.scoreSeq;
    return api('/score?ulid=' + encodeURIComponent(state.ulid), {
      parse: true, what: 'The server refused the score request'
    }).then(function (card) {
      if (gen !== state.gen || seq < state.scoreApplied) return state.score;
      state.scoreApplied = seq;
      var total = Number(card && card.total);
      if (!isFinite(total)) throw new ApiError('The score reply had no total.');
      renderScore(total);
      return total;
    }).catch(function (err) {
      if (gen === state.gen) showError(err.message);
      throw err;
    });
  }

  function feed(food) {
    if (state.phase !== 'playing') return;
    var gen = state.gen;
    var correct = food === state.want;
    state.clicks += 1;
    $('#clickCount').text(state.clicks);
    setMood(correct ? 'happy' : 'puzzled');

    var query = '/tally?ulid=' + encodeURIComponent(state.ulid) +
      '&food=' + encodeURIComponent(food) + '&correct=' + correct;
    var p = api(query, { instances: 2, what: 'The server refused a click' }).catch(function (err) {
      if (gen !== state.gen) return;
      state.tallyErrors += 1;
      showError(state.tallyErrors === 1 ? err.message
        : err.message.replace(/\.$/, '') + '; ' + state.tallyErrors + ' clicks refused so far.');
    });
    state.pending.push(p);
    p.then(function () {
      var i = state.pending.indexOf(p);
      if (i !== -1) state.pending.splice(i, 1);
    });
  }

  function endGame(gen) {
    state.phase = 'ending';
    state.menuTimers.forEach(clearTimeout);
    state.menuTimers = [];
    clearTimeout(state.tickTimer);
    setFoodsEnabled(false);
    setWant(null);
    setMood('neutral');
    $('#wantText').text('Time\u2019s up! The cat is full.');

    // Let in-flight clicks land (the Redis trigger scores them a moment later),
    // then read the final score and check the high-score table.
    var settle = Promise.race([Promise.all(state.pending.slice()), delay(2500)]);
    settle.then(function () { return delay(300); }).then(function () {
      if (gen !== state.gen) return null;
      return fetchScore(gen).catch(function () { return state.score; });
    }).then(function (total) {
      if (gen !== state.gen) return;
      total = typeof total === 'number' ? total : state.score;
      state.finalScore = total;
      $('#scoreFinal').text(total);
      $('#finalClicks').text(state.clicks);
      $('#finalWasm').text(state.wasm);
      $('#highScoreStatus').text('Checking the high-score table…');
      openModal('endModal', 'playAgain');
      return submitScore(gen, total, '');
    }).then(function () {
      if (gen === state.gen && state.phase === 'ending') state.phase = 'over';
    });
  }

  function submitScore(gen, total, username) {
    return api('/highscore', {
      method: 'POST',
      json: { score: total, ulid: state.ulid, username: username },
      parse: true,
      what: 'The server refused the high score'
    }).then(function (res) {
      if (gen !== state.gen) return;
      if (!res || !Array.isArray(res.high_score_table)) {
        throw new ApiError('The high-score reply had no table.');
      }
      renderTable(res.high_score_table);
      if (username) {
        $('#nameForm').prop('hidden', true);
        $('#highScoreStatus').text(res.rank > 0
          ? 'Saved! You are number ' + res.rank + ' on the table.'
          : 'Saved, but the table filled up with better scores.');
        $('#playAgain').trigger('focus');
      } else if (res.is_high_score) {
        $('#highScoreStatus').text('A new high score: rank ' + res.rank + '!');
        $('#nameForm').prop('hidden', false);
        $('#username').val('').removeClass('is-danger').trigger('focus');
        $('#nameHelp').removeClass('is-danger').text('One to three letters or digits.');
      } else {
        $('#highScoreStatus').text('Not quite enough for the top 10 this time.');
      }
    }).catch(function (err) {
      if (gen !== state.gen) return;
      $('#highScoreStatus').text('The high-score table is unavailable right now.');
      showError(err.message);
    });
  }

  function renderTable(rows) {
    var $body = $('#highScoreRows').empty();
    rows.slice(0, 10).forEach(function (row, i) {
      var mine = row && row.ulid === state.ulid;
      var name = row && typeof row.username === 'string' && row.username ? row.username : '???';
      var $tr = $('<tr>').toggleClass('is-me', mine);
      if (mine) $tr.attr('aria-current', 'true');
      $tr.append($('<td>').text(i + 1));
      $tr.append($('<td class="fw-name">').text(name).toggleClass('is-anon', name === '???')
        .append(mine ? $('<span class="fw-you">').text(' (you)') : null));
      $tr.append($('<td class="has-text-right">').text(Number(row && row.score) || 0));
      $body.append($tr);
    });
    if (!rows.length) {
      $body.append($('<tr>').append($('<td colspan="3" class="fw-empty">').text('No high scores yet.')));
    }
    $('#highScores').prop('hidden', false);
  }

  function saveName(ev) {
    ev.preventDefault();
    if (state.savingName || !state.ulid) return;
    var name = String($('#username').val() || '').trim().toUpperCase();
    if (!/^[A-Z0-9]{1,3}$/.test(name)) {
      $('#username').addClass('is-danger').trigger('focus');
      $('#nameHelp').addClass('is-danger').text('Please use one to three letters or digits.');
      return;
    }
    state.savingName = true;
    setBusy($('#submitName'), true);
    submitScore(state.gen, state.finalScore, name).then(function () {
      state.savingName = false;
      setBusy($('#submitName'), false);
    });
  }

  // ----------------------------------------------------------------- wiring

  function pressFood(food) {
    var $btn = $('#food-' + food);
    if ($btn.prop('disabled')) return;
    restartAnimation($btn, 'is-pressed');
    feed(food);
  }

  $(function () {
    // Warm the cache so mood swaps never flash.
    ['happy', 'puzzled'].forEach(function (m) { (new Image()).src = CAT[m].src; });

    $('#startButton').on('click', startGame);
    $('#playAgain').on('click', startGame);
    $('#errorDismiss').on('click', hideError);
    $('#nameForm').on('submit', saveName);
    $('#username').on('input', function () {
      var v = this.value.toUpperCase().replace(/[^A-Z0-9]/g, '').slice(0, 3);
      if (v !== this.value) this.value = v;
      $(this).removeClass('is-danger');
    });

    $('#foods').on('click', '.fw-food', function () {
      feed(this.getAttribute('data-food'));
    });

    $(document).on('keydown', function (e) {
      if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
      if (state.phase !== 'playing') return;
      if ($(e.target).is('input, textarea, select')) return;
      var food = KEYS[String(e.key).toLowerCase()];
      if (!food) return;
      e.preventDefault();
      pressFood(food);
    });

    renderTimer();
    openModal('startModal', 'startButton');
  });
})();
