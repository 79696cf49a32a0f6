package console

import (
	"context"
	"fmt"
	"net/http"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/users"
)

func (s *Server) usersPage(w http.ResponseWriter, r *http.Request, v *visit, status int, extra map[string]any) {
	users, err := s.Users.Users(r.Context(), v.account.ID)
	if err != nil {
		s.serverError(w, r, v, err)
		return
	}
	data := map[string]any{"Users": users, "Roles": s.assignable(v)}
	for k, x := range extra {
		data[k] = x
	}
	if status != http.StatusOK {
		w.WriteHeader(status)
	}
	s.render(w, r, v, "users", data)
}

// assignable are the roles v may give: only an owner makes owners.
func (s *Server) assignable(v *visit) []stele.Role {
	if v.user.Role == stele.RoleOwner {
		return stele.Roles
	}
	return stele.Roles[1:]
}

func (s *Server) handleUsers(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.require(w, r, v, stele.PermUsersManage) {
		return
	}
	s.usersPage(w, r, v, http.StatusOK, nil)
}

func (s *Server) handleCreateUser(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.require(w, r, v, stele.PermUsersManage) {
		return
	}
	role := stele.Role(r.PostFormValue("role"))
	if role == stele.RoleOwner && v.user.Role != stele.RoleOwner {
		s.usersPage(w, r, v, http.StatusForbidden, map[string]any{"Error": "Only an owner can add another owner."})
		return
	}
	u, password, err := s.creator.Create(detached(r), v.who(r), v.account, r.PostFormValue("email"), r.PostFormValue("name"), role, "")
	if u != nil { // created; a failure to record it is logged
		s.Audit.Log(err)
		err = nil
	}
	if err != nil {
		if code := stele.ErrorCode(err); code == stele.EINVALID || code == stele.ECONFLICT {
			s.usersPage(w, r, v, http.StatusBadRequest, map[string]any{"Error": stele.ErrorMessage(err)})
			return
		}
		s.serverError(w, r, v, err)
		return
	}
	s.usersPage(w, r, v, http.StatusOK, map[string]any{"Secret": password, "SecretFor": u.Email,
		"Notice": "User " + u.Email + " was created. Give them this one-time password over a channel you trust; they should change it after signing in."})
}

// target returns the user named in the path if it belongs to v's account.
func (s *Server) target(ctx context.Context, r *http.Request, v *visit) (*stele.User, error) {
	u, err := s.Users.User(ctx, r.PathValue("id"))
	if err == nil && u.AccountID != v.account.ID {
		err = stele.Errorf(stele.ENOTFOUND, "user not found")
	}
	return u, err
}

func (s *Server) handleChangeRole(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.require(w, r, v, stele.PermUsersManage) {
		return
	}
	u, err := s.target(r.Context(), r, v)
	if err != nil {
		s.serverError(w, r, v, err)
		return
	}
	role, err := stele.ParseRole(r.PostFormValue("role"))
	if err != nil {
		s.usersPage(w, r, v, http.StatusBadRequest, map[string]any{"Error": stele.ErrorMessage(err)})
		return
	}
	if (role == stele.RoleOwner || u.Role == stele.RoleOwner) && v.user.Role != stele.RoleOwner {
		s.usersPage(w, r, v, http.StatusForbidden, map[string]any{"Error": "Only an owner can make or unmake an owner."})
		return
	}
	if u.ID == v.user.ID {
		s.usersPage(w, r, v, http.StatusBadRequest, map[string]any{"Error": "You cannot change your own role; ask another owner."})
		return
	}
	before := u.Role
	if _, err := s.Users.UpdateUser(r.Context(), u.ID, stele.UserUpdate{Role: &role}); err != nil {
		s.serverError(w, r, v, err)
		return
	}
	s.Audit.Log(s.Audit.UserRoleChanged(detached(r), v.who(r), u, before, role))
	s.usersPage(w, r, v, http.StatusOK, map[string]any{"Notice": fmt.Sprintf("%s is now %s.", u.Email, role)})
}

func (s *Server) handleResetPassword(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.require(w, r, v, stele.PermUsersManage) {
		return
	}
	u, err := s.target(r.Context(), r, v)
	if err != nil {
		s.serverError(w, r, v, err)
		return
	}
	if u.Role == stele.RoleOwner && v.user.Role != stele.RoleOwner {
		s.usersPage(w, r, v, http.StatusForbidden, map[string]any{"Error": "Only an owner can reset an owner's password."})
		return
	}
	password := users.NewPassword()
	hash := users.HashPassword(password)
	if _, err := s.Users.UpdateUser(r.Context(), u.ID, stele.UserUpdate{PasswordHash: &hash}); err != nil {
		s.serverError(w, r, v, err)
		return
	}
	if err := s.Sessions.DeleteUserSessions(r.Context(), u.ID); err != nil {
		s.serverError(w, r, v, err)
		return
	}
	s.Audit.Log(s.Audit.UserPasswordReset(detached(r), v.who(r), u))
	s.usersPage(w, r, v, http.StatusOK, map[string]any{"Secret": password, "SecretFor": u.Email,
		"Notice": "The password of " + u.Email + " was reset and their sessions ended. This one-time password is shown only now."})
}

func (s *Server) handleDeleteUser(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.require(w, r, v, stele.PermUsersManage) {
		return
	}
	u, err := s.target(r.Context(), r, v)
	if err != nil {
		s.serverError(w, r, v, err)
		return
	}
	if u.ID == v.user.ID {
		s.usersPage(w, r, v, http.StatusBadRequest, map[string]any{"Error": "You cannot remove yourself."})
		return
	}
	if u.Role == stele.RoleOwner && v.user.Role != stele.RoleOwner {
		s.usersPage(w, r, v, http.StatusForbidden, map[string]any{"Error": "Only an owner can remove an owner."})
		return
	}
	if err := s.Users.DeleteUser(r.Context(), u.ID); err != nil {
		s.serverError(w, r, v, err)
		return
	}
	s.Audit.Log(s.Audit.UserDeleted(detached(r), v.who(r), u))
	s.usersPage(w, r, v, http.StatusOK, map[string]any{"Notice": u.Email + " was removed and signed out."})
}
