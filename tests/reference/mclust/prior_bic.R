# Reference BIC tables with mclust's default conjugate prior (priorControl()), and the
# resolved prior hyperparameters with the MAP fits behind them.
#
# Regenerate from the repository root:
#     Rscript tests/reference/mclust/prior_bic.R
# Writes next to this script (located from Rscript's --file= argument; otherwise the
# working directory must be the repo root):
#   faithful_prior_bic.csv, iris_prior_bic.csv
#       model,n_components,bic,log_likelihood,n_parameters,return_code,note
#       mclustBIC(X, G = 1:9, modelNames = <all 14>, prior = priorControl())
#   prior_hyper.csv
#       data,model,n_components,control,component,quantity,index,value
#       defaultPrior(X, G, modelName) (shrinkage, mean, dof, scale) and
#       me(X, modelName, z = unmap(hclass(hc(X), G)), prior = priorControl(), control)
#       for every model that accepts a prior, G = 2, 3, faithful and iris.
#
# mclustBIC() silently drops EVE, VEE, VVE and EVV when a prior is given
# (`modelNames <- setdiff(modelNames, c("EVE", "VEE", "VVE", "EVV"))`), and me() for those
# models with a prior returns loglik NA, returnCode -1 and WARNING
# "<model> model is not available with prior". Their rows are NA with that in `note`.

# The shared definitions (mclust, script_dir(), fmt(), MODELS, DATA) live in common.R.
here <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
source(file.path(if (length(here) == 1) dirname(normalizePath(sub("^--file=", "", here)))
                 else file.path(getwd(), "tests", "reference", "mclust"), "common.R"))

G_RANGE <- 1:9
PRIOR <- priorControl()

# Evaluate expr, collecting warnings and an error message (if any) into a note string.
capture <- function(expr) {
  warns <- character(0)
  value <- withCallingHandlers(
    tryCatch(expr, error = function(e) structure(list(msg = conditionMessage(e)), class = "captured_error")),
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  note <- c(if (inherits(value, "captured_error")) paste("error:", value$msg),
            if (length(warns)) paste("warning:", unique(warns)))
  list(value = value, note = paste(note, collapse = "; "))
}
clean <- function(s) gsub(",", ";", s)

hc_start <- function(X, G) {
  tree <- hc(X, modelName = mclust.options("hcModelName"), use = mclust.options("hcUse"))
  cl <- hclass(tree, G)
  unmap(cl, groups = 1:max(cl))
}

prior_table <- function(X) {
  n <- nrow(X); d <- ncol(X)
  joint <- capture(mclustBIC(X, G = G_RANGE, modelNames = MODELS, prior = PRIOR, verbose = FALSE))
  if (inherits(joint$value, "captured_error")) stop("mclustBIC failed: ", joint$note)
  if (nzchar(joint$note)) cat("mclustBIC:", joint$note, "\n")
  bic <- joint$value
  accepted <- attr(bic, "modelNames")
  rets <- attr(bic, "returnCodes")
  rows <- list(); mismatches <- 0
  for (m in MODELS) {
    model_note <- ""
    if (!(m %in% accepted)) {
      # What me() says for this model with a prior (same hc start as mclustBIC, G = 2).
      r <- capture(me(data = X, modelName = m, z = hc_start(X, 2), prior = PRIOR, warn = TRUE))
      model_note <- paste("dropped by mclustBIC when a prior is given; me():", r$note)
      cat(sprintf("%s not accepted with a prior: %s\n", m, model_note))
    } else {
      # Also run the model on its own, to see whether mclustBIC warns or fails for it.
      r <- capture(mclustBIC(X, G = G_RANGE, modelNames = m, prior = PRIOR, verbose = FALSE, warn = TRUE))
      if (inherits(r$value, "captured_error")) stop("per-model mclustBIC failed for ", m, ": ", r$note)
      # (Its warnings belong to single cells; they are reported per NA cell below.)
      same <- all.equal(unclass(r$value)[, m], unclass(bic)[, m], check.attributes = FALSE)
      if (!isTRUE(same)) { cat("per-model mclustBIC differs for", m, "\n"); mismatches <- mismatches + 1 }
    }
    for (g in G_RANGE) {
      df <- nMclustParams(m, d = d, G = g)
      cell <- NA_real_; loglik <- NA_real_; rc <- NA; note <- model_note
      if (m %in% accepted) {
        cell <- bic[as.character(g), m]
        rc <- rets[as.character(g), m]
        if (!is.na(cell)) {
          fit <- summary(bic, X, G = g, modelNames = m)
          loglik <- fit$loglik
          direct <- Mclust(X, G = g, modelNames = m, prior = PRIOR, verbose = FALSE)
          if (is.null(direct) || direct$df != df || abs(direct$loglik - loglik) > 1e-8 * abs(loglik)) {
            cat(sprintf("Mclust MISMATCH %s G=%d\n", m, g)); mismatches <- mismatches + 1
          }
          recomputed <- 2 * loglik - df * log(n)
          if (abs(recomputed - cell) > 1e-6 * max(1, abs(cell))) {
            cat(sprintf("BIC MISMATCH %s G=%d\n", m, g)); mismatches <- mismatches + 1
          }
        } else {
          # Cell failed: re-run that fit as mclustBIC did and keep its message.
          r <- if (g == 1) capture(mvn(modelName = m, data = X, prior = PRIOR, warn = TRUE))
               else capture(me(data = X, modelName = m, z = hc_start(X, g), prior = PRIOR, warn = TRUE))
          note <- paste(c(if (nzchar(model_note)) model_note, r$note), collapse = "; ")
          cat(sprintf("NA cell: %s G=%d (%s)\n", m, g, note))
        }
      }
      rows[[length(rows) + 1]] <- data.frame(
        model = m, n_components = g, bic = fmt(cell), log_likelihood = fmt(loglik),
        n_parameters = df, return_code = rc, note = clean(note))
    }
  }
  cat(sprintf("%d mismatches\n", mismatches))
  list(table = do.call(rbind, rows), accepted = accepted)
}

write_out <- function(tab, file) {
  path <- file.path(script_dir(), file)
  write.csv(tab, path, row.names = FALSE, quote = FALSE)
  cat("wrote", path, "\n")
}

hyper_rows <- list()
add_hyper <- function(name, m, G, control, component, quantity, values)
  hyper_rows[[length(hyper_rows) + 1]] <<- data.frame(
    data = name, model = m, n_components = G, control = control, component = component,
    quantity = quantity, index = seq_along(values), value = fmt(values))
rowmajor <- function(M) as.vector(t(as.matrix(M)))

CONTROLS <- list(default = emControl(), tight = emControl(tol = c(1e-12, 1e-12)))
for (name in names(DATA)) {
  X <- DATA[[name]]
  d <- ncol(X)
  result <- prior_table(X)
  write_out(result$table, sprintf("%s_prior_bic.csv", name))
  cat(name, "models accepting a prior:", paste(result$accepted, collapse = " "), "\n")
  for (m in result$accepted) for (G in 2:3) {
    hp <- defaultPrior(X, G = G, modelName = m)
    add_hyper(name, m, G, "none", 0, "shrinkage", hp$shrinkage)
    add_hyper(name, m, G, "none", 0, "mean", hp$mean)
    add_hyper(name, m, G, "none", 0, "dof", hp$dof)
    add_hyper(name, m, G, "none", 0, "scale", rowmajor(hp$scale))  # 1 x 1 or d x d row-major
    for (ctl in names(CONTROLS)) {
      r <- capture(me(data = X, modelName = m, z = hc_start(X, G), prior = PRIOR,
                      control = CONTROLS[[ctl]], warn = TRUE))
      fit <- r$value
      if (inherits(fit, "captured_error") || is.na(fit$loglik)) {
        cat(sprintf("prior fit failed: %s %s G=%d %s: %s\n", name, m, G, ctl, r$note))
        add_hyper(name, m, G, ctl, 0, "log_likelihood", NA_real_)
        if (!inherits(fit, "captured_error"))
          add_hyper(name, m, G, ctl, 0, "return_code", attr(fit, "returnCode"))
        next
      }
      info <- attr(fit, "info")
      add_hyper(name, m, G, ctl, 0, "log_likelihood", fit$loglik)
      add_hyper(name, m, G, ctl, 0, "bic", 2 * fit$loglik - nMclustParams(m, d, G) * log(nrow(X)))
      add_hyper(name, m, G, ctl, 0, "iterations", abs(info[[1]]))
      add_hyper(name, m, G, ctl, 0, "return_code", attr(fit, "returnCode"))
      if (!is.null(attr(info, "inner")))
        add_hyper(name, m, G, ctl, 0, "inner_iterations", abs(attr(info, "inner")[[1]]))
      for (k in seq_len(G)) {
        add_hyper(name, m, G, ctl, k, "pro", fit$parameters$pro[k])
        add_hyper(name, m, G, ctl, k, "mean", fit$parameters$mean[, k])
        add_hyper(name, m, G, ctl, k, "sigma", rowmajor(fit$parameters$variance$sigma[, , k]))
      }
    }
  }
}
path <- file.path(script_dir(), "prior_hyper.csv")
write.csv(do.call(rbind, hyper_rows), path, row.names = FALSE, quote = FALSE)
cat("wrote", path, "\n")
