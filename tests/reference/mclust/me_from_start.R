# Reference EM fits (mclust::me) of all 14 models from mclust's default hc start, on
# faithful (272 x 2) and iris[, 1:4] (150 x 4), K = 2, 3, 4.
#
# Regenerate from the repository root:
#     Rscript tests/reference/mclust/me_from_start.R
# Writes next to this script (located from Rscript's --file= argument; otherwise the
# working directory must be the repo root):
#   me_starts.csv       data,n_components,row,class   the start: hclass(hc(X), K)
#   me_from_start.csv   one row per (data, model, K, control): iterations, log-likelihood, ...
#   me_params.csv       long format parameters of every fit
#
# The start is exactly what mclustBIC() uses: hc(X, modelName = "VVV", use = "SVD")
# (mclust.options("hcModelName"), mclust.options("hcUse")), cl <- hclass(tree, K),
# z <- unmap(cl, groups = 1:max(cl)); then
#   me(data = X, modelName = m, z = z, control = <control>)
# control "default": emControl()  (tol = c(1e-05, sqrt(.Machine$double.eps)), itmax = c(.Machine$integer.max, .Machine$integer.max))
# control "tight":   emControl(tol = c(1e-12, 1e-12))  (itmax as default)
# The "default" fits are checked to reproduce the mclustBIC() cells.

# The shared definitions (mclust, script_dir(), fmt(), write_out(), MODELS, DATA) live in common.R.
here <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
source(file.path(if (length(here) == 1) dirname(normalizePath(sub("^--file=", "", here)))
                 else file.path(getwd(), "tests", "reference", "mclust"), "common.R"))

K_RANGE <- 2:4
CONTROLS <- list(default = emControl(), tight = emControl(tol = c(1e-12, 1e-12)))

# Run me() capturing warnings and errors; returns list(fit, note).
run_me <- function(X, m, z, control, prior = NULL) {
  warns <- character(0)
  fit <- withCallingHandlers(
    tryCatch(me(data = X, modelName = m, z = z, prior = prior, control = control, warn = TRUE),
             error = function(e) structure(list(error = conditionMessage(e)), class = "me_error")),
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  note <- if (inherits(fit, "me_error")) paste("error:", fit$error) else ""
  if (!inherits(fit, "me_error") && !is.null(attr(fit, "WARNING")))
    warns <- unique(c(warns, attr(fit, "WARNING")))
  if (length(warns)) note <- paste(c(if (nzchar(note)) note, paste("warning:", warns)), collapse = "; ")
  list(fit = fit, note = note)
}

# Long-format rows for the parameters of one fit. component 0 = shared by all components.
param_rows <- function(fit, m, G, d) {
  out <- list()
  add <- function(component, quantity, values)
    out[[length(out) + 1]] <<- data.frame(component = component, quantity = quantity,
                                          index = seq_along(values), value = fmt(values))
  rowmajor <- function(M) as.vector(t(M))
  par <- fit$parameters
  v <- par$variance
  for (k in seq_len(G)) {
    add(k, "pro", par$pro[k])
    add(k, "mean", par$mean[, k])
    add(k, "sigma", rowmajor(v$sigma[, , k]))
  }
  # mclust's own decomposition, as stored in parameters$variance (Sigma_k = scale_k * O_k diag(shape_k) O_k^T)
  shared <- function(letter) letter == "E"
  L <- strsplit(m, "")[[1]]
  if (!is.null(v$scale)) {
    if (shared(L[1])) { stopifnot(length(v$scale) == 1); add(0, "scale", v$scale) }
    else { stopifnot(length(v$scale) == G); for (k in seq_len(G)) add(k, "scale", v$scale[k]) }
  }
  if (!is.null(v$sigmasq)) {
    if (shared(L[1])) add(0, "sigmasq", v$sigmasq) else for (k in seq_len(G)) add(k, "sigmasq", v$sigmasq[k])
  }
  if (!is.null(v$shape)) {
    if (shared(L[2])) { stopifnot(is.null(dim(v$shape)), length(v$shape) == d); add(0, "shape", v$shape) }
    else { S <- matrix(v$shape, d, G); for (k in seq_len(G)) add(k, "shape", S[, k]) }
  }
  if (!is.null(v$orientation)) {
    if (shared(L[3])) { stopifnot(length(dim(v$orientation)) == 2); add(0, "orientation", rowmajor(v$orientation)) }
    else { O <- array(v$orientation, c(d, d, G)); for (k in seq_len(G)) add(k, "orientation", rowmajor(O[, , k])) }
  }
  if (!is.null(v$Sigma)) add(0, "Sigma", rowmajor(v$Sigma))
  if (!is.null(v$cholSigma)) add(0, "cholSigma", rowmajor(v$cholSigma))
  if (!is.null(v$cholsigma)) for (k in seq_len(G)) add(k, "cholsigma", rowmajor(v$cholsigma[, , k]))
  do.call(rbind, out)
}

start_rows <- list(); fit_rows <- list(); par_rows <- list(); mismatches <- 0
for (name in names(DATA)) {
  X <- DATA[[name]]
  n <- nrow(X); d <- ncol(X)
  tree <- hc(X, modelName = mclust.options("hcModelName"), use = mclust.options("hcUse"))
  cls <- hclass(tree, K_RANGE)
  bic_ref <- mclustBIC(X, G = K_RANGE, modelNames = MODELS, verbose = FALSE)
  for (K in K_RANGE) {
    cl <- cls[, as.character(K)]
    start_rows[[length(start_rows) + 1]] <- data.frame(data = name, n_components = K,
                                                       row = seq_len(n), class = as.integer(cl))
    z <- unmap(cl, groups = 1:max(cl))
    for (m in MODELS) for (ctl in names(CONTROLS)) {
      r <- run_me(X, m, z, CONTROLS[[ctl]])
      fit <- r$fit
      df <- nMclustParams(m, d = d, G = K)
      ok <- !inherits(fit, "me_error") && !is.null(fit$loglik) && !is.na(fit$loglik)
      # attr(fit, "info") = c(iterations, error) (c(niterout, errout) for EVE/VEE/VVE/EVV),
      # with attr(, "inner") = c(inner iterations, inner error) for the iterative M-steps.
      info <- if (inherits(fit, "me_error")) NULL else attr(fit, "info")
      inner <- attr(info, "inner")
      rc <- if (inherits(fit, "me_error")) NA else attr(fit, "returnCode")
      loglik <- if (ok) fit$loglik else NA_real_
      bic_val <- if (ok) 2 * loglik - df * log(n) else NA_real_
      if (ctl == "default") {
        cell <- bic_ref[as.character(K), m]
        if (!identical(is.na(cell), is.na(bic_val)) ||
            (!is.na(cell) && abs(cell - bic_val) > 1e-8 * abs(cell))) {
          cat(sprintf("mclustBIC MISMATCH %s %s K=%d: %s vs %s\n", name, m, K, cell, bic_val))
          mismatches <- mismatches + 1
        }
      }
      if (!ok) cat(sprintf("NA fit: %s %s K=%d %s: %s\n", name, m, K, ctl, r$note))
      fit_rows[[length(fit_rows) + 1]] <- data.frame(
        data = name, model = m, n_components = K, control = ctl,
        iterations = if (is.null(info)) NA else abs(info[[1]]),
        error = if (is.null(info)) "NA" else fmt(info[[2]]),
        inner_iterations = if (is.null(inner)) NA else abs(inner[[1]]),
        inner_error = if (is.null(inner)) "NA" else fmt(inner[[2]]),
        log_likelihood = fmt(loglik), bic = fmt(bic_val), n_parameters = df,
        return_code = rc, converged = isTRUE(ok && rc == 0),
        note = gsub(",", ";", r$note))
      if (ok) par_rows[[length(par_rows) + 1]] <- cbind(
        data.frame(data = name, model = m, n_components = K, control = ctl),
        param_rows(fit, m, K, d))
    }
  }
}
cat(sprintf("%d mismatches against mclustBIC\n", mismatches))

write_out(start_rows, "me_starts.csv")
write_out(fit_rows, "me_from_start.csv")
write_out(par_rows, "me_params.csv")
